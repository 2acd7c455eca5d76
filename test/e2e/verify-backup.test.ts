import { chmod, open, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { openStateStore } from '../../src/adapters/state/kysely-store.ts';
import type { BackupManifest } from '../../src/backup/manifest.ts';
import { useSandboxBot } from '../helpers/bot.ts';
import { dr } from '../helpers/cli.ts';
import { PG_ADMIN_URL, postgresAvailable } from '../helpers/pg.ts';
import { tempSandbox } from '../helpers/sandbox.ts';

const hasPostgres = await postgresAvailable();

/** Scratch databases a restore test could have left beside the live one. */
async function scratchLeft(sandbox: Sandbox): Promise<string[]> {
  if (sandbox.kind === 'sqlite') {
    const live = sandbox.manifest.dbPath!;
    return (await readdir(path.dirname(live))).filter((name) => name.startsWith(`${path.basename(live)}.restore-`));
  }
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    const rows = (await client.query<{ datname: string }>('select datname from pg_database')).rows;
    return rows.map((r) => r.datname).filter((name) => name.startsWith(`${sandbox.manifest.pgDatabase!}_restore_`));
  } finally {
    await client.end();
  }
}

/** Flips one byte in the middle of a stored backup file. */
async function flipByte(file: string): Promise<void> {
  await chmod(file, 0o600);
  const handle = await open(file, 'r+');
  try {
    const { size } = await handle.stat();
    const at = Math.floor(size / 2);
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, at);
  } finally {
    await handle.close();
  }
}

describe.each([
  { database: 'sqlite' as const, skip: false },
  { database: 'postgres' as const, skip: !hasPostgres },
])('dr verify backup on $database', ({ database, skip }) => {
  let sandbox: Sandbox;
  let env: Record<string, string>;
  beforeAll(async () => {
    if (skip) return;
    sandbox = await tempSandbox({ database });
    env = { DR_CONFIG: sandbox.configPath, DR_STATE: path.join(sandbox.dir, 'cli-state.db') };
  });
  afterAll(async () => sandbox?.destroy());

  const state = async <T>(read: (store: Awaited<ReturnType<typeof openStateStore>>) => Promise<T>): Promise<T> => {
    const store = await openStateStore(env.DR_STATE!);
    try {
      return await read(store);
    } finally {
      await store.close();
    }
  };
  const catalogEntry = (id: string) => state(async (store) => (await store.listCatalog({ kind: 'db' })).find((m) => m.id === id));
  const verifyRuns = () => state((store) => store.listRuns({ procedure: 'verify-backup' }));
  const takeBackup = async (): Promise<BackupManifest> => {
    const { code, stdout } = await dr(['backup', 'db', '--json'], env);
    expect(code).toBe(0);
    return (JSON.parse(stdout) as { taken: BackupManifest[] }).taken[0]!;
  };

  it.skipIf(skip)('restores the newest backup into a scratch database, records counts beside live, and leaves nothing behind', async () => {
    const backup = await takeBackup();
    const { code, stdout } = await dr(['verify', 'backup'], env);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^✅ verify-backup run-\S+: succeeded/);
    const counts = { documents: sandbox.counts.documents, users: sandbox.counts.users, tenants: sandbox.counts.tenants };
    // Both engines count when the backup is taken (PostgreSQL in the snapshot pg_dump reads).
    expect(stdout).toContain(`check integrity and counts against the manifest — integrity ok; ${counts.documents} documents, ${counts.users} users, ${counts.tenants} tenants, equal to the manifest`);
    expect(stdout).toContain('(the same as the backup)');
    expect(stdout).toMatch(/Restore test: passed — /);
    const entry = await catalogEntry(backup.id);
    expect(entry?.verified).toBe(true);
    expect(entry?.verification.restore_test).toMatchObject({ ok: true, counts, live_counts: counts });
    expect(Date.parse(entry!.verification.restore_test!.at)).toBeGreaterThan(Date.parse(backup.finished_at));
    // The repository's own manifest carries it too, so a rebuilt catalog keeps it.
    expect((await readManifestFile(sandbox, backup.id)).verification.restore_test).toMatchObject({ ok: true, counts });
    expect(await scratchLeft(sandbox)).toEqual([]);
    const [run] = await verifyRuns();
    expect(run).toMatchObject({ status: 'succeeded', summary: { backupId: backup.id, counts, liveCounts: counts } });
    expect(run!.steps.every((step) => step.status === 'done')).toBe(true);
  });

  it.skipIf(skip)('names a backup whose stored file changed as damaged, exits 1 and marks it unverified', async () => {
    const backup = await takeBackup();
    await flipByte(path.join(sandbox.manifest.backupsDir, backup.files[0]!.key));
    const { code, stdout } = await dr(['verify', 'backup', backup.id], env);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^❌ verify-backup run-\S+: failed/);
    expect(stdout).toContain(`❌ fetch the backup and check its SHA-256 — ${backup.id} is damaged: ${backup.files[0]!.key}: SHA-256 is`);
    expect(stdout).toContain('now marked unverified');
    const entry = await catalogEntry(backup.id);
    expect(entry?.verified).toBe(false);
    expect(entry?.verification.restore_test).toMatchObject({ ok: false, detail: expect.stringContaining(`${backup.id} is damaged`) });
    expect((await readManifestFile(sandbox, backup.id)).verified).toBe(false);
    expect(await scratchLeft(sandbox)).toEqual([]);
    // Unverified, it is no longer what `latest` means, nor offered for a restore.
    const again = await dr(['verify', 'backup', backup.id], env);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`${backup.id} is not verified`);
  });

  it.skipIf(skip)('refuses an unknown id with exit 2 and runs nothing', async () => {
    const before = (await verifyRuns()).length;
    const { code, stderr } = await dr(['verify', 'backup', 'db-20200101T000000Z-abcd'], env);
    expect(code).toBe(2);
    expect(stderr).toContain('There is no backup db-20200101T000000Z-abcd. Nothing was run.');
    const storage = await dr(['verify', 'backup', 'storage-20200101T000000Z-abcd'], env);
    expect(storage.code).toBe(2);
    expect(storage.stderr).toContain('is not a database backup');
    expect(await verifyRuns()).toHaveLength(before);
  });
});

async function readManifestFile(sandbox: Sandbox, id: string): Promise<BackupManifest> {
  return JSON.parse(await readFile(path.join(sandbox.manifest.backupsDir, 'manifests', `${id}.json`), 'utf8')) as BackupManifest;
}

describe('/dr verify backup from Slack', () => {
  const subject = useSandboxBot({ serverDown: true, sandbox: { config: { slack: { roles: { operators: ['U0OPERATOR'] } } } } });

  it('replaces the progress message with the run’s checklist', async () => {
    const backup = await subject.t().bot.deps.backupDatabase();
    const response = await subject.t().command('verify backup', { user: 'U0OPERATOR' });
    expect(response.status).toBe(200);
    const started = await subject.t().slack.waitFor((c) => c.method === 'chat.postMessage');
    expect(started.body.text).toBe('/dr verify backup running');
    const final = await subject.t().slack.waitFor((c) => c.method === 'chat.update' && c.body.text === 'verify-backup succeeded', 30_000);
    expect(final.body.ts).toBe((started.response as { ts: string }).ts);
    const blocks = final.body.blocks as Array<{ block_id?: string; text?: { text: string } }>;
    const steps = blocks.find((b) => b.block_id === 'run_steps')!.text!.text;
    expect(steps.split('\n')).toHaveLength(6);
    expect(steps.split('\n').every((line) => line.startsWith('✅'))).toBe(true);
    expect(blocks.find((b) => b.block_id === 'run_facts')!.text!.text).toContain('*Restore test:* passed');
    const [run] = await subject.t().bot.deps.store.listRuns({ procedure: 'verify-backup' });
    expect(run).toMatchObject({ actor: 'U0OPERATOR', status: 'succeeded', summary: { backupId: backup.id } });
  });
});
