import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { tempSandbox } from '../helpers/sandbox.ts';
import { dr } from '../helpers/cli.ts';
import { openStateStore } from '../../src/adapters/state/kysely-store.ts';

describe('dr CLI', () => {
  let sandbox: Sandbox;
  let env: Record<string, string>;
  beforeAll(async () => {
    sandbox = await tempSandbox();
    await sandbox.startServer();
    env = { DR_CONFIG: sandbox.configPath, DR_STATE: path.join(await mkdtemp(path.join(tmpdir(), 'dr-cli-')), 'state.db') };
  });
  afterAll(async () => sandbox?.destroy());

  it('prints the help generated from the registry and exits 0', async () => {
    const { code, stdout } = await dr(['help'], env);
    expect(code).toBe(0);
    expect(stdout).toContain('restore db [latest|ID]');
    expect(stdout).toMatch(/status\s+health of the DMS/);
  });

  it('exits 1 with a readable report when the DMS is degraded (no backups, no paging)', async () => {
    const { code, stdout } = await dr(['status'], env);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^⚠️ alphha-sandbox is degraded/);
    expect(stdout).toMatch(/✅ DMS database\s+SQLite .*integrity ok, 50 documents, 10 users, 3 tenants/);
    expect(stdout).toContain('no backups yet — RPO exposure unknown');
  });

  it('exits 0 when everything is healthy, and prints JSON with --json', async () => {
    await mkdir(path.join(sandbox.dir, 'backups', 'manifests'), { recursive: true });
    await writeFile(
      path.join(sandbox.dir, 'backups', 'manifests', 'db-now.json'),
      JSON.stringify({ id: 'db-now', kind: 'db', finished_at: new Date().toISOString(), size_bytes: 4096, verified: true }),
    );
    // A recent drill within the RTO (runbook §4.2), as `dr drill` records it.
    const store = await openStateStore(env.DR_STATE!);
    const at = new Date(Date.now() - 3_600_000).toISOString();
    await store.createRun({ id: 'run-drill-cli-test', procedure: 'drill', actor: 'scheduler', status: 'succeeded', startedAt: at, finishedAt: at, heartbeatAt: at, owner: 'test', steps: [], summary: { durationMs: 60_000, rtoMs: 60_000, rtoTargetMs: 14_400_000, withinRto: true } });
    await store.close();
    const { code, stdout } = await dr(['status', '--json'], { ...env, PAGERDUTY_ROUTING_KEY: 'R0123456789abcdef0123456789abcdef', DR_BACKUP_KEY: 'a-backup-key' });
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as { kind: string; report: { overall: string; probes: Array<{ id: string; state: string }> } };
    expect(result.kind).toBe('status');
    expect(result.report.overall).toBe('ok');
    expect(result.report.probes.map((p) => p.id)).toEqual(['database', 'health', 'metrics', 'storage', 'backups', 'drills', 'pagerduty', 'outbox']);
    expect(stdout).not.toContain('R0123456789abcdef0123456789abcdef');
  });

  it('exits 2 for an unknown command, naming the closest one, and runs nothing', async () => {
    const { code, stdout, stderr } = await dr(['stauts'], env);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain('`stauts` is not a /dr command. Nothing was run.');
    expect(stderr).toContain('Did you mean `status`?');
  });

  it('records every command in the hash-chained history, which verifies', async () => {
    const { code, stdout } = await dr(['history', '50', '--verify'], env);
    expect(code).toBe(0);
    expect(stdout).toMatch(/cli\/\S+\s+"status"\s+→ degraded/);
    expect(stdout).toMatch(/"stauts"\s+→ command_unknown/);
    expect(stdout).toMatch(/✅ chain intact: \d+ rows verified/);
  });

  it('treats -h and --help as help', async () => {
    for (const flag of ['-h', '--help']) {
      const { code, stdout } = await dr([flag], env);
      expect(code).toBe(0);
      expect(stdout).toContain('dr — disaster recovery for Alphha DMS');
    }
  });

  it('still runs when the bot’s own state store is down, warning that nothing is audited', async () => {
    const { code, stdout, stderr } = await dr(['status'], { ...env, DR_STATE: 'postgres://postgres@127.0.0.1:1/nowhere' });
    expect(code).toBe(1);
    expect(stdout).toMatch(/✅ DMS database/);
    expect(stderr).toMatch(/dr: warning: The bot's state store \(DR_STATE\) is unavailable: .*ECONNREFUSED.*not recorded in the audit log/);
  });
});
