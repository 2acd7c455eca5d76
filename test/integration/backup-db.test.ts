import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { PassThrough, Writable } from 'node:stream';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import type { BackupManifest } from '../../src/backup/manifest.ts';
import type { DumpProgress } from '../../src/ports/dms.ts';
import { sandboxEnv, tempSandbox } from '../helpers/sandbox.ts';
import { PostgresDumper } from '../../src/adapters/dms/postgres-dumper.ts';
import { SqliteDumper } from '../../src/adapters/dms/sqlite-dumper.ts';
import { redactUrl } from '../../src/adapters/dms/postgres-database.ts';
import { LocalBackupRepository } from '../../src/adapters/repository/local-backup-repository.ts';
import { openStateStore } from '../../src/adapters/state/kysely-store.ts';
import { backupDatabase } from '../../src/procedures/backup-db.ts';
import { dr } from '../helpers/cli.ts';
import { postgresAvailable, scratchDatabase } from '../helpers/pg.ts';
import pg from 'pg';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('database backup (SQLite, local repository)', () => {
  let sandbox: Sandbox;
  let env: Record<string, string>;
  const repository = () => path.join(sandbox.dir, 'backups');
  const manifests = async () => (await readdir(path.join(repository(), 'manifests')).catch(() => [] as string[])).filter((n) => n.endsWith('.json'));
  const staging = async () => readdir(path.join(repository(), '.staging')).catch(() => [] as string[]);

  beforeAll(async () => {
    sandbox = await tempSandbox();
    env = sandboxEnv(sandbox);
  });
  afterAll(async () => sandbox?.destroy());

  it('copies, checks, stores, re-reads and catalogues a backup', async () => {
    const { code, stdout } = await dr(['backup', 'db'], env);
    expect(code).toBe(0);
    const id = /db backup (db-\d{8}T\d{6}Z-[0-9a-f]{4})/.exec(stdout)![1]!;
    const manifest = JSON.parse(await readFile(path.join(repository(), 'manifests', `${id}.json`), 'utf8')) as BackupManifest;
    expect(manifest).toMatchObject({ format: 1, id, kind: 'db', verified: true, source: { engine: 'sqlite' }, verification: { integrity: 'ok', counts: sandbox.counts.documents ? { documents: sandbox.counts.documents, users: sandbox.counts.users, tenants: sandbox.counts.tenants } : {}, hashes_rechecked: true } });
    const file = path.join(repository(), manifest.files[0]!.key);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(manifest.files[0]!.size_bytes).toBe((await stat(file)).size);
    // The copy is a self-contained database: no -wal beside it, and it opens with the same rows.
    expect(existsSync(`${file}-wal`)).toBe(false);
    const copy = new Database(file, { readonly: true });
    expect(copy.prepare('select count(*) as n from documents').get()).toEqual({ n: sandbox.counts.documents });
    copy.close();
    const listing = await dr(['backups', 'db'], env);
    expect(listing.stdout).toMatch(new RegExp(`^${id}\\s+.* verified\\s+daily, weekly, monthly$`, 'm'));
    expect(await staging()).toEqual([]);
  });

  it('takes a consistent copy while the DMS keeps writing', async () => {
    // A second process writes into the live database for the whole backup, until the stop file appears.
    const stopFile = path.join(sandbox.dir, 'writer.stop');
    const writer = spawn(process.execPath, ['-e', `
      const Database = require('better-sqlite3');
      const { existsSync } = require('node:fs');
      const db = new Database(process.argv[1]);
      db.pragma('busy_timeout = 5000');
      const insert = db.prepare("insert into audit_ledger (created_at, actor, action, detail) values (datetime('now'), 'writer', 'upload', ?)");
      const pause = new Int32Array(new SharedArrayBuffer(4));
      let n = 0;
      while (!existsSync(process.argv[2])) {
        db.transaction(() => { for (let i = 0; i < 20; i++) insert.run('x'.repeat(500)); })();
        n += 20;
        Atomics.wait(pause, 0, 0, 2);
      }
      console.log(n);
    `, path.join(sandbox.dir, 'data', 'alphha.db'), stopFile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => writer.once('exit', resolve));
    let written = '';
    writer.stdout.on('data', (chunk) => (written += chunk));
    const ledgerRows = (file: string): number => {
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try {
        // Checked here, by a connection of the test's own, on the stored file.
        expect(db.pragma('integrity_check')).toEqual([{ integrity_check: 'ok' }]);
        return (db.prepare('select count(*) as n from audit_ledger').get() as { n: number }).n;
      } finally {
        db.close();
      }
    };
    const live = path.join(sandbox.dir, 'data', 'alphha.db');
    const rowsBefore = ledgerRows(live);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const results = [];
    for (let i = 0; i < 2; i += 1) results.push(await dr(['backup', 'db'], env));
    // A little more writing after the second backup, then stop.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await writeFile(stopFile, '');
    await exited;
    const rowsAfter = ledgerRows(live);
    expect(Number(written)).toBeGreaterThan(200);
    const copies = [];
    for (const result of results) {
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('integrity ok');
      const id = /db backup (db-\S+?):? /.exec(result.stdout)![1]!;
      const manifest = JSON.parse(await readFile(path.join(repository(), 'manifests', `${id}.json`), 'utf8')) as BackupManifest;
      copies.push(ledgerRows(path.join(repository(), manifest.files[0]!.key)));
    }
    // Both copies were taken while rows were arriving: each holds a different state, between before and after.
    expect(copies[0]).toBeGreaterThan(rowsBefore);
    expect(copies[1]).toBeGreaterThan(copies[0]!);
    expect(rowsAfter).toBeGreaterThan(copies[1]!);
  });

  it('fails cleanly when the database cannot be copied: nothing stored, nothing catalogued', async () => {
    const before = await manifests();
    const broken = { ...env, DR_CONFIG: await configWithDatabase(sandbox, '/nonexistent/alphha.db') };
    const { code, stderr } = await dr(['backup', 'db'], broken);
    expect(code).toBe(2);
    expect(stderr).toMatch(/SQLite backup of \/nonexistent\/alphha.db failed: /);
    expect(await manifests()).toEqual(before);
    expect(await staging()).toEqual([]);
  });

  it('leaves no backup after kill -9 mid-copy, and the next start removes the leftovers', async () => {
    const db = new Database(path.join(sandbox.dir, 'data', 'alphha.db'));
    db.exec('create table if not exists ballast (b blob)');
    db.transaction(() => {
      for (let i = 0; i < 300; i += 1) db.prepare('insert into ballast values (zeroblob(1048576))').run();
    })();
    db.close();
    const before = await manifests();
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/dr.mjs'), 'backup', 'db'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: 'ignore' });
    const deadline = Date.now() + 20_000;
    while ((await staging()).length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect((await staging()).length).toBeGreaterThan(0);
    expect(await manifests()).toEqual(before);
    const listing = await dr(['backups', 'db'], env);
    expect(listing.stdout.split('\n').filter((l) => l.startsWith('db-'))).toHaveLength(before.length);
    expect(await staging()).toEqual([]);
  });

  it('reports the copy’s bytes against the database’s size while it is written, then the check', async () => {
    const file = path.join(sandbox.dir, 'large.db');
    const db = new Database(file);
    db.exec('create table ballast (b blob)');
    db.transaction(() => {
      for (let i = 0; i < 200; i += 1) db.prepare('insert into ballast values (randomblob(1048576))').run();
    })();
    const size = (db.pragma('page_count', { simple: true }) as number) * (db.pragma('page_size', { simple: true }) as number);
    db.close();
    const updates: DumpProgress[] = [];
    await new SqliteDumper(file, 1).dumpTo(path.join(sandbox.dir, 'large.copy.sqlite'), AbortSignal.timeout(60_000), (update) => updates.push(update));
    const counted = updates.filter((u) => u.phase === undefined);
    expect(counted.length).toBeGreaterThan(0);
    expect(counted.every((u) => u.bytesTotal === size && u.bytesDone <= size)).toBe(true);
    expect(counted.map((u) => u.bytesDone)).toEqual([...counted.map((u) => u.bytesDone)].sort((a, b) => a - b));
    expect(updates.at(-1)).toEqual({ bytesDone: 0, phase: 'integrity_check of the copy' });
  });

  it('backs up a database that lacks a counted table, and records why it has no counts', async () => {
    const file = path.join(sandbox.dir, 'no-tenants.db');
    const db = new Database(file);
    db.exec('create table documents (id integer primary key); create table users (id integer primary key); insert into documents default values;');
    db.close();
    const copy = await new SqliteDumper(file).dumpTo(path.join(sandbox.dir, 'no-tenants.copy.sqlite'), AbortSignal.timeout(30_000));
    expect(copy).toMatchObject({ integrity: 'ok', counts: undefined, countsUnavailable: 'the DMS database lacks one of the tables documents, users and tenants' });
  });
});

async function configWithDatabase(sandbox: Sandbox, file: string): Promise<string> {
  const { writeFile } = await import('node:fs/promises');
  const original = await readFile(sandbox.configPath, 'utf8');
  const target = path.join(sandbox.dir, 'dr-broken.yml');
  await writeFile(target, original.replace(/url: sqlite:.*/, `url: sqlite:${file}`));
  return target;
}

describe.skipIf(!(await postgresAvailable()))('database backup (PostgreSQL, pg_dump -Fc)', () => {
  let sandbox: Sandbox;
  let env: Record<string, string>;
  beforeAll(async () => {
    sandbox = await tempSandbox({ database: 'postgres' });
    env = sandboxEnv(sandbox);
  });
  afterAll(async () => sandbox?.destroy());

  it('dumps, checks with pg_restore --list, and restores with pg_restore into a new database with equal row counts', async () => {
    const { code, stdout } = await dr(['backup', 'db'], env);
    expect(code).toBe(0);
    const id = /db backup (db-\S+):/.exec(stdout)![1]!;
    const manifest = JSON.parse(await readFile(path.join(sandbox.dir, 'backups', 'manifests', `${id}.json`), 'utf8')) as BackupManifest;
    expect(manifest).toMatchObject({ verified: true, source: { engine: 'postgres' }, verification: { integrity: 'ok' }, tools: { pg_dump: expect.stringMatching(/^\d+/) } });
    expect(manifest.source.location).not.toMatch(/:[^@/]*@/);
    const dump = path.join(sandbox.dir, 'backups', manifest.files[0]!.key);
    const target = await scratchDatabase('dr_restore_check');
    try {
      await run('pg_restore', ['--no-owner', `--dbname=${target.url}`, dump]);
      const counts = async (url: string) => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        const tables = ['tenants', 'users', 'documents', 'audit_ledger'];
        const result: Record<string, number> = {};
        for (const t of tables) result[t] = Number((await client.query(`select count(*) from ${t}`)).rows[0].count);
        await client.end();
        return result;
      };
      const live = await counts(sandbox.databaseUrl);
      expect(live.documents).toBe(sandbox.counts.documents);
      expect(await counts(target.url)).toEqual(live);
      expect(manifest.verification.counts).toEqual({ documents: live.documents, users: live.users, tenants: live.tenants });
    } finally {
      await target.drop();
    }
  });

  it('records the counts of the dump’s own snapshot while the DMS keeps inserting documents', async () => {
    const writer = new pg.Client({ connectionString: sandbox.databaseUrl });
    await writer.connect();
    let writing = true;
    let inserted = 0;
    const writes = (async () => {
      while (writing) {
        await writer.query("insert into documents (id, tenant_id, file_path, checksum_sha256, size_bytes, created_at) select (select max(id) + 1 from documents), min(id), 'during-backup/' || $1::text || '.pdf', repeat('0', 64), 1, now() from tenants", [String(inserted)]);
        inserted += 1;
      }
    })();
    let backup: Awaited<ReturnType<typeof dr>>;
    try {
      await new Promise((resolve) => setTimeout(resolve, 100));
      backup = await dr(['backup', 'db'], env);
    } finally {
      writing = false;
      await writes;
      await writer.end();
    }
    expect(backup.code).toBe(0);
    expect(inserted).toBeGreaterThan(10);
    const id = /db backup (db-\S+):/.exec(backup.stdout)![1]!;
    const manifest = JSON.parse(await readFile(path.join(sandbox.dir, 'backups', 'manifests', `${id}.json`), 'utf8')) as BackupManifest;
    const target = await scratchDatabase('dr_restore_snapshot');
    try {
      await run('pg_restore', ['--no-owner', `--dbname=${target.url}`, path.join(sandbox.dir, 'backups', manifest.files[0]!.key)]);
      const client = new pg.Client({ connectionString: target.url });
      await client.connect();
      const restored = (await client.query('select (select count(*) from documents)::int as documents, (select count(*) from users)::int as users, (select count(*) from tenants)::int as tenants')).rows[0];
      await client.end();
      expect(manifest.verification.counts).toEqual(restored);
      expect(restored.documents).toBeGreaterThan(sandbox.counts.documents);
    } finally {
      await target.drop();
    }
  });

  it('reports the dump’s bytes as pg_dump streams them, then its checks', async () => {
    const updates: DumpProgress[] = [];
    const file = path.join(sandbox.dir, 'progress.dump');
    await new PostgresDumper(sandbox.databaseUrl).dumpTo(file, AbortSignal.timeout(60_000), (update) => updates.push(update));
    const counted = updates.filter((u) => u.phase === undefined).map((u) => u.bytesDone);
    expect(counted.length).toBeGreaterThan(0);
    expect(counted).toEqual([...counted].sort((a, b) => a - b));
    expect(counted.at(-1)).toBe((await stat(file)).size);
    expect(updates.at(-1)).toEqual({ bytesDone: 0, phase: 'pg_restore --list and read-back of the dump' });
  });

  it('stops a pg_dump waiting on a locked table at the deadline, failing without crashing the process', async () => {
    const migration = new pg.Client({ connectionString: sandbox.databaseUrl });
    await migration.connect();
    await migration.query('BEGIN');
    await migration.query('LOCK TABLE documents IN ACCESS EXCLUSIVE MODE');
    try {
      const started = Date.now();
      const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
      await expect(new PostgresDumper(sandbox.databaseUrl, 60_000).dumpToStream(sink, AbortSignal.timeout(500))).rejects.toThrow();
      // Neither pg_dump nor the count waiting on the lock held it past the deadline.
      expect(Date.now() - started).toBeLessThan(10_000);
      // An unhandled rejection from the killed pg_dump would surface here and fail the run.
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      await migration.query('ROLLBACK');
      await migration.end();
    }
  });

  it('gives up checking a read-back that breaks off before pg_restore has the table of contents', async () => {
    const input = new PassThrough();
    input.write(Buffer.from('PGDMP'));
    const checking = new PostgresDumper(sandbox.databaseUrl).checkStream(input, AbortSignal.timeout(60_000));
    setTimeout(() => input.destroy(new Error('socket hang up')), 200);
    await expect(checking).resolves.toMatch(/^pg_restore --list failed: exited with null/);
  });

  it('keeps the dump when counting fails in its snapshot, and records why the manifest has no counts', async () => {
    const target = await scratchDatabase('dr_count_fails');
    try {
      const client = new pg.Client({ connectionString: target.url });
      await client.connect();
      // Every read of this view divides by zero: the count fails while pg_dump (which only dumps its definition) succeeds.
      await client.query('create table users (id int); create table tenants (id int); create table ledger (id int); insert into ledger select generate_series(1, 500)');
      await client.query('create view documents as select id from ledger where 1 / (id - id) = 0');
      await client.end();
      const file = path.join(sandbox.dir, 'count-fails.dump');
      const copy = await new PostgresDumper(target.url).dumpTo(file, AbortSignal.timeout(60_000));
      expect(copy).toMatchObject({ engine: 'postgres', integrity: 'ok', counts: undefined });
      expect(copy.countsUnavailable).toMatch(/^counting documents, users and tenants in the dump's snapshot failed: division by zero/);
      const listing = await run('pg_restore', ['--list', file]);
      expect(listing.stdout).toMatch(/TABLE DATA public ledger/);
    } finally {
      await target.drop();
    }
  });

  it('fails with pg_dump’s reason when it exits non-zero (a table locked by a migration), storing and cataloguing nothing', async () => {
    const migration = new pg.Client({ connectionString: sandbox.databaseUrl });
    await migration.connect();
    await migration.query('BEGIN');
    await migration.query('LOCK TABLE audit_ledger IN ACCESS EXCLUSIVE MODE');
    const dir = path.join(sandbox.dir, 'locked');
    const store = await openStateStore(path.join(dir, 'state.db'));
    try {
      const repository = new LocalBackupRepository(path.join(dir, 'repo'));
      const deps = { repository, store, timeoutMs: 60_000, now: () => new Date(), botVersion: 'test', dumper: new PostgresDumper(sandbox.databaseUrl, 500), sourceLocation: 'pg' };
      await expect(backupDatabase(deps)).rejects.toMatchObject({
        code: 'BACKUP_FAILED',
        userMessage: expect.stringMatching(/^pg_dump of postgres:\/\/.* exited with 1: .*statement timeout.*LOCK TABLE (public\.)?audit_ledger/),
      });
      expect(await readdir(path.join(dir, 'repo', 'db')).catch(() => [])).toEqual([]);
      expect(await readdir(path.join(dir, 'repo', 'manifests')).catch(() => [])).toEqual([]);
      expect(await readdir(path.join(dir, 'repo', '.staging'))).toEqual([]);
      expect(await store.listCatalog()).toEqual([]);
    } finally {
      await migration.query('ROLLBACK');
      await migration.end();
      await store.close();
    }
  });

  it('hands the password to pg_dump and pg_restore through PGPASSWORD, never on their command line or in the manifest', async () => {
    const password = 'pw-' + randomBytes(6).toString('hex');
    const admin = new pg.Client({ connectionString: sandbox.databaseUrl });
    await admin.connect();
    const role = `dr_backup_${randomBytes(3).toString('hex')}`;
    await admin.query(`CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD '${password}'`);
    await admin.end();
    // Wrappers in front of the real tools record what each was started with.
    const bin = path.join(sandbox.dir, 'spy-bin');
    await mkdir(bin, { recursive: true });
    for (const tool of ['pg_dump', 'pg_restore']) {
      const real = (await run('sh', ['-c', `command -v ${tool}`])).stdout.trim();
      await writeFile(path.join(bin, tool), `#!/bin/sh\nprintf '%s\\n' "$*" >> "${bin}/argv"\nprintf '%s %s\\n' ${tool} "$(printf '%s\\n' "\${PGPASSWORD:-unset}" | sha256sum)" >> "${bin}/env"\nexec ${real} "$@"\n`, { mode: 0o755 });
    }
    const url = new URL(sandbox.databaseUrl);
    url.username = role;
    url.password = password;
    const dir = path.join(sandbox.dir, 'with-password');
    const store = await openStateStore(path.join(dir, 'state.db'));
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath}`;
    try {
      const deps = { repository: new LocalBackupRepository(path.join(dir, 'repo')), store, timeoutMs: 60_000, now: () => new Date(), botVersion: 'test', dumper: new PostgresDumper(url.toString()), sourceLocation: redactUrl(url.toString()) };
      const manifest = await backupDatabase(deps);
      expect(manifest.verified).toBe(true);
      const argv = await readFile(path.join(bin, 'argv'), 'utf8');
      expect(argv).toMatch(/--format=custom/);
      expect(argv).toMatch(/--list/);
      expect(argv).not.toContain(password);
      const passed = createHash('sha256').update(`${password}\n`).digest('hex');
      const envLines = (await readFile(path.join(bin, 'env'), 'utf8')).trim().split('\n');
      // pg_dump (its --version, then the dump) had the password in its environment; pg_restore --list connects to nothing.
      const dumps = envLines.filter((line) => line.startsWith('pg_dump '));
      expect(dumps.length).toBe(2);
      expect(dumps.every((line) => line.startsWith(`pg_dump ${passed}`))).toBe(true);
      expect(envLines.filter((line) => line.startsWith('pg_restore ')).length).toBe(1);
      expect(JSON.stringify(manifest)).not.toContain(password);
      expect(manifest.source.location).toContain(role);
    } finally {
      process.env.PATH = savedPath;
      await store.close();
    }
  });

  it('fails with the server’s reason when the database is gone, storing and cataloguing nothing', async () => {
    const broken = path.join(sandbox.dir, 'dr-broken.yml');
    const original = await readFile(sandbox.configPath, 'utf8');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(broken, original.replace(/url: postgres:\/\/(.*)\/[^/\s]+$/m, 'url: postgres://$1/no_such_database_here'));
    const before = await readdir(path.join(sandbox.dir, 'backups', 'manifests'));
    const { code, stderr } = await dr(['backup', 'db'], { ...env, DR_CONFIG: broken });
    expect(code).toBe(2);
    expect(stderr).toMatch(/no_such_database_here/);
    expect(stderr).toMatch(/does not exist/);
    expect(await readdir(path.join(sandbox.dir, 'backups', 'manifests'))).toEqual(before);
    expect(await readdir(path.join(sandbox.dir, 'backups', '.staging'))).toEqual([]);
  });
});
