import { chmod, open } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import type { DispatchDeps } from '../../src/commands/dispatch.ts';
import { composeDeps } from '../../src/compose.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { AlertEvent } from '../../src/ports/alerts.ts';
import { startBackupSchedules } from '../../src/scheduler/backup-schedules.ts';
import { captureLogs } from '../helpers/logs.ts';
import { sandboxEnv, tempSandbox } from '../helpers/sandbox.ts';

describe('the weekly restore test and the monthly drill on the schedule', () => {
  // Yearly slots, each on its own day: no real slot may fire while the test watches.
  const yearly = '0 0 1 1 *';
  const verify = '0 4 2 1 *';
  const drill = '0 5 3 1 *';
  let sandbox: Sandbox;
  let deps: DispatchDeps;
  beforeAll(async () => {
    sandbox = await tempSandbox({ config: { backups: { schedule: { db: yearly, storage: yearly, config: yearly, prune: yearly, verify, drill } } } });
    deps = await composeDeps(loadConfig(sandboxEnv(sandbox)), captureLogs('silent').logger);
  });
  afterAll(async () => {
    await deps?.store.close();
    await sandbox?.destroy();
  });

  it('registers both jobs with the configured expressions; a failed restore test raises backup_job_failure, a drill is audited', async () => {
    // A fresh database backup first, so start-up takes no catch-up backup.
    const damaged = await deps.backupDatabase();
    const raised: AlertEvent[] = [];
    const schedules = await startBackupSchedules(deps, { raise: async (event) => void raised.push(event), resolve: async () => {} });
    try {
      const patterns = Object.fromEntries(schedules.tasks.map((task) => [task.name, task.getPattern()]));
      expect(patterns).toMatchObject({ 'verify-backup': verify, drill });
      const task = (name: string) => schedules.tasks.find((t) => t.name === name)!;

      const file = path.join(sandbox.manifest.backupsDir, damaged.files[0]!.key);
      await chmod(file, 0o600);
      const handle = await open(file, 'r+');
      await handle.write(Buffer.from('damaged'), 0, 7, 4_096);
      await handle.close();
      await task('verify-backup').execute();
      await expect.poll(() => raised.length, { timeout: 15_000 }).toBe(1);
      expect(raised[0]).toMatchObject({ alert: 'backup_job_failure', severity: 'critical', summary: 'scheduled verify-backup failed', details: { reason: expect.stringContaining(`${damaged.id} is damaged`) } });
      expect((await deps.store.listCatalog({ kind: 'db' })).find((m) => m.id === damaged.id)?.verified).toBe(false);
      expect((await deps.store.listAudit()).at(-1)).toMatchObject({ source: 'scheduler', command: 'verify-backup', outcome: 'backup_job_failure' });
      expect((await deps.store.listRuns({ procedure: 'verify-backup' }))[0]).toMatchObject({ actor: 'scheduler', status: 'failed' });

      await deps.backupDatabase();
      await deps.backupStorage();
      await deps.backupConfig();
      await task('drill').execute();
      const [run] = await deps.store.listRuns({ procedure: 'drill' });
      expect(run).toMatchObject({ actor: 'scheduler', status: 'succeeded', summary: { withinRto: true } });
      await expect.poll(async () => (await deps.store.listAudit()).at(-1), { timeout: 5_000 }).toMatchObject({ source: 'scheduler', command: 'drill', outcome: 'ok', detail: { id: run!.id } });
      expect(raised).toHaveLength(1);
    } finally {
      await schedules.stop();
    }
  });
});
