import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { openStateStore } from '../../src/adapters/state/kysely-store.ts';
import type { DispatchDeps } from '../../src/commands/dispatch.ts';
import { composeDeps } from '../../src/compose.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { StateStore } from '../../src/ports/state-store.ts';
import { startBackupSchedules } from '../../src/scheduler/backup-schedules.ts';
import { startSchedules } from '../../src/scheduler/schedules.ts';
import { captureLogs } from '../helpers/logs.ts';
import { startBotProcess } from '../helpers/bot-process.ts';
import { postgresAvailable, scratchDatabase } from '../helpers/pg.ts';
import { tempSandbox } from '../helpers/sandbox.ts';

const hasPostgres = await postgresAvailable();

describe.skipIf(!hasPostgres)('two replicas sharing a PostgreSQL state store', () => {
  it('run each scheduled slot exactly once', async () => {
    const database = await scratchDatabase('dr_state_slots');
    const stores: StateStore[] = [await openStateStore(database.url), await openStateStore(database.url)];
    const runs: Array<{ replica: number; second: number }> = [];
    const { logger } = captureLogs('silent');
    const replicas = stores.map((store, replica) =>
      startSchedules(
        [{ name: 'tick', expression: '* * * * * *', run: async () => void runs.push({ replica, second: Math.floor(Date.now() / 1000) }) }],
        { store, owner: `replica-${replica}`, timezone: 'UTC', logger, onFailure: () => {} },
      ),
    );
    try {
      await new Promise((resolve) => setTimeout(resolve, 4_500));
    } finally {
      for (const schedules of replicas) await schedules.stop();
    }
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const slots = (await client.query<{ slot: string; owner: string }>("select slot, owner from schedule_slots where slot like 'tick:%'")).rows;
    await client.end();
    for (const store of stores) await store.close();
    await database.drop();

    expect(runs.length).toBeGreaterThanOrEqual(3);
    // One run per slot, and one claimed row per run: no slot ran on both replicas.
    expect(new Set(runs.map((r) => r.second)).size).toBe(runs.length);
    expect(slots).toHaveLength(runs.length);
    expect(new Set(slots.map((s) => s.slot)).size).toBe(slots.length);
  });
});

describe.skipIf(!hasPostgres)('two bot processes sharing a PostgreSQL state store', () => {
  it('run each scheduled slot once, whichever process claims it', async () => {
    const database = await scratchDatabase('dr_state_procs');
    // The schema first, so the two processes do not race to create it.
    await (await openStateStore(database.url)).close();
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    await client.query('create table replica_runs (replica text, second bigint)');
    const helper = path.resolve(import.meta.dirname, '../helpers/schedule-replica.ts');
    const { spawn } = await import('node:child_process');
    const exits = ['A', 'B'].map(
      (replica) =>
        new Promise<number | null>((resolve) => {
          const child = spawn(process.execPath, ['--import', 'tsx', helper, database.url, replica, '5'], { stdio: ['ignore', 'inherit', 'inherit'] });
          child.once('exit', resolve);
        }),
    );
    expect(await Promise.all(exits)).toEqual([0, 0]);
    const runs = (await client.query<{ replica: string; second: string }>('select replica, second from replica_runs')).rows;
    const slots = (await client.query<{ count: string }>("select count(*) from schedule_slots where slot like 'tick:%'")).rows[0]!.count;
    await client.end();
    await database.drop();
    expect(runs.length).toBeGreaterThanOrEqual(3);
    expect(new Set(runs.map((r) => r.second)).size).toBe(runs.length);
    expect(Number(slots)).toBe(runs.length);
  });
});

describe('backup schedules at start-up', () => {
  let sandbox: Sandbox;
  let deps: DispatchDeps;
  const logs = captureLogs('info');
  beforeAll(async () => {
    // Yearly slots: no real slot may fire while the test watches (an hourly one did, once, at the top of the hour).
    const yearly = '0 0 1 1 *';
    sandbox = await tempSandbox({ config: { backups: { schedule: { db: yearly, storage: yearly, config: yearly, prune: yearly } } } });
    deps = await composeDeps(loadConfig({ DR_CONFIG: sandbox.configPath, DR_STATE: path.join(sandbox.dir, 'dr-state.db') }), logs.logger);
  });
  afterAll(async () => {
    await deps?.store.close();
    await sandbox?.destroy();
  });

  it('catches up at once when there is no recent database backup, and only once', async () => {
    expect(await deps.store.listCatalog({ kind: 'db' })).toEqual([]);
    const first = await startBackupSchedules(deps);
    await expect.poll(async () => (await deps.store.listCatalog({ kind: 'db' })).length, { timeout: 15_000 }).toBe(1);
    await first.stop();
    expect(logs.lines.some((l) => String(l.msg).startsWith('newest database backup is older than one schedule period'))).toBe(true);
    const audit = await deps.store.listAudit();
    expect(audit.at(-1)).toMatchObject({ source: 'scheduler', command: 'backup-db', outcome: 'ok' });

    // A fresh backup exists now: a restart takes none.
    const second = await startBackupSchedules(deps);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await second.stop();
    expect(await deps.store.listCatalog({ kind: 'db' })).toHaveLength(1);
  });

  it('records a failed job as backup_job_failure', async () => {
    const { readFile, writeFile } = await import('node:fs/promises');
    const brokenConfig = path.join(sandbox.dir, 'dr-broken.yml');
    await writeFile(brokenConfig, (await readFile(sandbox.configPath, 'utf8')).replace(/url: sqlite:.*/, 'url: sqlite:/nonexistent/alphha.db'));
    const broken = await composeDeps(loadConfig({ DR_CONFIG: brokenConfig, DR_STATE: path.join(sandbox.dir, 'dr-state-2.db') }), logs.logger);
    const schedules = await startBackupSchedules(broken);
    await expect.poll(async () => (await broken.store.listAudit()).at(-1)?.outcome, { timeout: 10_000 }).toBe('backup_job_failure');
    expect((await broken.store.listAudit()).at(-1)?.detail).toMatchObject({ error: expect.stringContaining('SQLite backup of /nonexistent/alphha.db failed'), catchUp: true });
    await schedules.stop();
    await broken.store.close();
  });
});

describe.skipIf(!hasPostgres)('two dr-bot processes sharing a PostgreSQL state store', () => {
  it('take each scheduled backup once per slot, and one catch-up between them', async () => {
    const database = await scratchDatabase('dr_state_bots');
    // The schema first, so the two processes do not race to create it.
    await (await openStateStore(database.url)).close();
    const yearly = '0 0 1 1 *';
    // A config backup every second; the database only by the start-up catch-up (there is none yet; a yearly
    // slot, so no regular one fires while the test watches).
    const sandbox = await tempSandbox({ config: { backups: { schedule: { db: yearly, storage: yearly, config: '* * * * * *', prune: yearly, verify: yearly, drill: yearly } } } });
    const env = { DR_CONFIG: sandbox.configPath, DR_STATE: database.url };
    const bots = await Promise.all(['a', 'b'].map((name) => startBotProcess(env, sandbox.dir).then((bot) => ({ name, bot }))));
    try {
      await new Promise((resolve) => setTimeout(resolve, 5_000));
    } finally {
      for (const { bot } of bots) await bot.stop();
    }
    const store = await openStateStore(database.url);
    try {
      const configs = await store.listCatalog({ kind: 'config' });
      const slots = (await store.listAudit()).filter((e) => e.command === 'backup-config' && e.outcome === 'ok');
      const seconds = configs.map((m) => m.started_at.slice(0, 19));
      expect(configs.length).toBeGreaterThanOrEqual(3);
      // One backup per second-slot, whichever process ran it, and one audit row each.
      expect(new Set(seconds).size).toBe(configs.length);
      expect(slots).toHaveLength(configs.length);
      expect(await store.listCatalog({ kind: 'db' })).toHaveLength(1);
    } finally {
      await store.close();
      await sandbox.destroy();
      await database.drop();
    }
  });
});
