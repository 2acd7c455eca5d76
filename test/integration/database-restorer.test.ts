import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { PostgresDumper } from '../../src/adapters/dms/postgres-dumper.ts';
import { PostgresRestorer } from '../../src/adapters/dms/postgres-restorer.ts';
import { SqliteDumper } from '../../src/adapters/dms/sqlite-dumper.ts';
import { SqliteRestorer } from '../../src/adapters/dms/sqlite-restorer.ts';
import type { DatabaseRef } from '../../src/ports/dms.ts';
import { PG_ADMIN_URL, postgresAvailable } from '../helpers/pg.ts';
import { tempSandbox } from '../helpers/sandbox.ts';

const hasPostgres = await postgresAvailable();
const ROOT = path.resolve(import.meta.dirname, '../..');
const SWAP_LOOP = path.join(ROOT, 'test/helpers/swap-loop.ts');
const signal = () => AbortSignal.timeout(60_000);

type Counts = { documents: number; users: number; tenants: number };
const plus = (counts: Counts, documents: number): Counts => ({ ...counts, documents: counts.documents + documents });

/** Opens a SQLite file read-only as the DMS would and reports its integrity and row counts. */
function sqliteFacts(file: string): { integrity: string; counts?: Counts } {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const problems = (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check);
    if (problems.join('; ') !== 'ok') return { integrity: problems.join('; ') };
    const count = (table: string) => (db.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n;
    return { integrity: 'ok', counts: { documents: count('documents'), users: count('users'), tenants: count('tenants') } };
  } catch (error) {
    return { integrity: String((error as Error).message) };
  } finally {
    db.close();
  }
}

/** Inserts `n` documents (the rows that a restore must take back, or an undo bring back). */
function addDocuments(file: string, n: number, tag: string): void {
  const db = new Database(file, { fileMustExist: true });
  const insert = db.prepare("insert into documents (tenant_id, file_path, checksum_sha256, size_bytes, created_at) values (1, ?, ?, 1, datetime('now'))");
  db.transaction(() => {
    for (let i = 0; i < n; i += 1) insert.run(`added/${tag}-${i}.pdf`, '0'.repeat(64));
  })();
  db.close();
}

/** Waits until a child's stdout matches, or it exits. */
function waitForOutput(child: ReturnType<typeof spawn>, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (pattern.test(out)) {
        child.stdout?.off('data', onData);
        resolve(out);
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`child exited with ${code} before printing ${pattern}: ${out}`)));
  });
}

/** Starts the swap loop, SIGKILLs it `delayMs` after its first swap began, and says how many swaps it finished. */
async function killMidSwap(args: string[], delayMs: number): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', SWAP_LOOP, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await waitForOutput(child, /^ready$/m);
  await sleep(delayMs);
  child.kill('SIGKILL');
  await exited;
  return out.split('\n').filter((line) => line.startsWith('swapped')).length;
}

describe('SqliteRestorer (real SQLite files)', () => {
  let sandbox: Sandbox;
  let pristine: string;
  let original: Counts;
  const dirs: string[] = [];

  beforeAll(async () => {
    sandbox = await tempSandbox();
    pristine = path.join(sandbox.dir, 'pristine.db');
    await copyFile(sandbox.manifest.dbPath!, pristine);
    original = { documents: sandbox.counts.documents, users: sandbox.counts.users, tenants: sandbox.counts.tenants };
  });
  afterAll(async () => {
    await sandbox?.destroy();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  /** A live DMS file of its own (the sandbox's data, WAL mode) in a fresh folder, and a backup of it made by SqliteDumper. */
  async function liveWithBackup(): Promise<{ live: string; dump: string; restorer: SqliteRestorer }> {
    const dir = await mkdtemp(path.join(tmpdir(), 'dr-restorer-'));
    dirs.push(dir);
    const live = path.join(dir, 'data', 'alphha.db');
    await mkdir(path.dirname(live));
    await copyFile(pristine, live);
    const dump = path.join(dir, 'backup.sqlite');
    const copy = await new SqliteDumper(live).dumpTo(dump, signal());
    expect(copy).toMatchObject({ integrity: 'ok', counts: original });
    return { live, dump, restorer: new SqliteRestorer(live) };
  }

  it('restores beside the live file, swaps it in, keeps the old file, and swaps that back (undo)', async () => {
    const { live, dump, restorer } = await liveWithBackup();
    addDocuments(live, 5, 'after-backup');

    const scratch = await restorer.restoreToScratch(dump, '20260102T030405Z', signal());
    expect(scratch).toEqual({ engine: 'sqlite', name: `${live}.restore-20260102T030405Z`, location: `sqlite:${live}.restore-20260102T030405Z` });
    expect(restorer.scratchFor('20260102T030405Z')).toEqual(scratch);
    expect(await restorer.inspect(scratch, signal())).toEqual({ integrity: 'ok', counts: original });
    // Complete (no temp name left), in the live file's journal mode and permissions, and nothing pending beside it.
    expect(existsSync(`${scratch.name}.partial`)).toBe(false);
    const check = new Database(scratch.name, { readonly: true });
    expect(check.pragma('journal_mode', { simple: true })).toBe('wal');
    check.close();
    expect((await stat(scratch.name)).mode).toBe((await stat(live)).mode);
    expect(sqliteFacts(live).counts).toEqual(plus(original, 5));

    const kept = (await restorer.swapIn(scratch, '20260102T030405Z'))!;
    expect(kept).toEqual({ engine: 'sqlite', name: `${live}.pre-20260102T030405Z`, location: `sqlite:${live}.pre-20260102T030405Z` });
    expect(existsSync(scratch.name)).toBe(false);
    expect(existsSync(`${live}-wal`)).toBe(false);
    expect(sqliteFacts(live)).toEqual({ integrity: 'ok', counts: original }); // the rows added after the backup are gone…
    expect(await restorer.inspect(kept, signal())).toEqual({ integrity: 'ok', counts: plus(original, 5) }); // …and kept

    const keptAgain = (await restorer.swapIn(kept, 'undo-1'))!;
    expect(sqliteFacts(live)).toEqual({ integrity: 'ok', counts: plus(original, 5) });
    expect(await restorer.inspect(keptAgain, signal())).toEqual({ integrity: 'ok', counts: original });
    expect(existsSync(kept.name)).toBe(false);

    await restorer.drop(keptAgain);
    expect((await readdir(path.dirname(live))).filter((name) => name.includes('.pre-') || name.includes('.restore-'))).toEqual([]);
    expect(sqliteFacts(live).integrity).toBe('ok');
  });

  it('puts the restored file in place when the live file is gone (a complete loss), moving its orphaned -wal aside', async () => {
    const { live, dump, restorer } = await liveWithBackup();
    const scratch = await restorer.restoreToScratch(dump, 'lost1', signal());
    await rm(live);
    await writeFile(`${live}-wal`, 'left behind by the lost database');
    expect(await restorer.swapIn(scratch, 'lost1')).toBeUndefined();
    expect(existsSync(`${live}-wal`)).toBe(false);
    expect(await readFile(`${live}.pre-lost1-wal`, 'utf8')).toBe('left behind by the lost database');
    expect(sqliteFacts(live).integrity).toBe('ok');
  });

  it('replaces a corrupted live file with a healthy one', async () => {
    const live = sandbox.manifest.dbPath!;
    const restorer = new SqliteRestorer(live);
    const dump = path.join(sandbox.dir, 'before-corruption.sqlite');
    await new SqliteDumper(live).dumpTo(dump, signal());
    await sandbox.corruptDatabase();
    expect(sqliteFacts(live).integrity).not.toBe('ok');

    const scratch = await restorer.restoreToScratch(dump, 'fix', signal());
    const kept = (await restorer.swapIn(scratch, 'fix'))!;
    expect(sqliteFacts(live)).toEqual({ integrity: 'ok', counts: original });
    // The damaged file is kept as it was (for forensics, or undo), and inspect says what is wrong with it.
    expect((await restorer.inspect(kept, signal())).integrity).not.toBe('ok');
  });

  it('keeps rows that were only in the live -wal (DMS killed before a checkpoint) and leaves no -wal beside the new file', async () => {
    const { live, dump, restorer } = await liveWithBackup();
    await dieWithRowsInWal(live, 7);
    expect((await stat(`${live}-wal`)).size).toBeGreaterThan(0);

    const scratch = await restorer.restoreToScratch(dump, 'w1', signal());
    const kept = (await restorer.swapIn(scratch, 'w1'))!;
    expect(existsSync(`${live}-wal`)).toBe(false);
    expect(existsSync(`${live}-shm`)).toBe(false);
    expect(sqliteFacts(live)).toEqual({ integrity: 'ok', counts: original });
    expect(await restorer.inspect(kept, signal())).toEqual({ integrity: 'ok', counts: plus(original, 7) });
  });

  it('moves a -wal that SQLite did not fold in (live file unreadable, a straggler holding it) to the kept copy, never beside the new file', async () => {
    // SQLite folds a -wal into even a damaged file when its last connection closes; one it cannot fold stays
    // only while someone else holds the file. Here: rows only in the -wal, a read-only straggler, a ruined header.
    const { live, dump, restorer } = await liveWithBackup();
    const scratch = await restorer.restoreToScratch(dump, 'hdr', signal());
    await dieWithRowsInWal(live, 3);
    const straggler = new Database(live, { readonly: true });
    expect(straggler.prepare('select count(*) as n from documents').get()).toEqual({ n: original.documents + 3 });
    const handle = await open(live, 'r+');
    await handle.write(Buffer.from('not SQLite at all'), 0, 16, 0);
    await handle.close();
    const walBytes = (await stat(`${live}-wal`)).size;

    const kept = (await restorer.swapIn(scratch, 'hdr'))!;
    expect(existsSync(`${live}-wal`)).toBe(false);
    expect(existsSync(`${live}-shm`)).toBe(false);
    expect((await stat(`${kept.name}-wal`)).size).toBe(walBytes);
    expect(sqliteFacts(live)).toEqual({ integrity: 'ok', counts: original });
    // The straggler closing afterwards (it holds the old file) does not touch the new one.
    straggler.close();
    expect(sqliteFacts(live)).toEqual({ integrity: 'ok', counts: original });
  });

  it('undoes a restore over a file whose header was overwritten (ransomware) byte for byte, its -wal with it', async () => {
    // The DMS died with rows only in its -wal, then something overwrote the file's header: SQLite cannot open it.
    const { live, dump, restorer } = await liveWithBackup();
    await dieWithRowsInWal(live, 3);
    const handle = await open(live, 'r+');
    await handle.write(Buffer.from('ENCRYPTED BY XYZ'), 0, 16, 0);
    await handle.close();
    const damaged = await readFile(live);
    const damagedWal = await readFile(`${live}-wal`);

    const scratch = await restorer.restoreToScratch(dump, 'ransom', signal());
    await restorer.checkSwap(scratch, 'ransom');
    const kept = (await restorer.swapIn(scratch, 'ransom'))!;
    expect(sqliteFacts(live)).toEqual({ integrity: 'ok', counts: original });
    const found = await restorer.inspect(kept, signal());
    expect(found.integrity).toMatch(/^SQLITE_NOTADB/);

    // Undo: checked before any stop, then the very bytes go back, main file and -wal, and nothing else.
    await restorer.checkSwap(kept, 'undo-ransom', { asIs: true });
    expect(await readFile(kept.name)).toEqual(damaged);
    const restoredKept = (await restorer.swapIn(kept, 'undo-ransom', { asIs: true }))!;
    expect(await readFile(live)).toEqual(damaged);
    expect(await readFile(`${live}-wal`)).toEqual(damagedWal);
    expect(existsSync(kept.name)).toBe(false);
    expect(existsSync(`${kept.name}-wal`)).toBe(false);
    // The restored database is kept in its turn, sound, so the undo can itself be undone.
    expect(await restorer.inspect(restoredKept, signal())).toEqual({ integrity: 'ok', counts: original });
  });

  it('moves a file that is not SQLite at all in as bytes even when not told, instead of failing with SQLITE_NOTADB', async () => {
    const { live, dump, restorer } = await liveWithBackup();
    const scratch = await restorer.restoreToScratch(dump, 'nh1', signal());
    const kept = (await restorer.swapIn(scratch, 'nh1'))!;
    const handle = await open(kept.name, 'r+');
    await handle.write(Buffer.alloc(100, 0xaa), 0, 100, 0);
    await handle.close();
    const bytes = await readFile(kept.name);
    await restorer.checkSwap(kept, 'nh2');
    await restorer.swapIn(kept, 'nh2');
    expect(await readFile(live)).toEqual(bytes);
  });

  it('refuses a swap that cannot be made while the DMS still runs, changing nothing', async () => {
    const { live, dump, restorer } = await liveWithBackup();
    const liveBytes = await readFile(live);
    const scratch = await restorer.restoreToScratch(dump, 'chk', signal());
    // The kept name is taken (by a file that is not the live one).
    await writeFile(`${live}.pre-chk`, 'something else');
    await expect(restorer.checkSwap(scratch, 'chk')).rejects.toThrow(/\.pre-chk already exists; use another label/);
    // The replacement is gone.
    await expect(restorer.checkSwap({ ...scratch, name: `${live}.restore-gone` }, 'chk2')).rejects.toThrow(/restore-gone does not exist/);
    // The replacement is held open by someone else, with its log not folded in.
    const holder = new Database(scratch.name);
    holder.pragma('journal_mode = WAL');
    holder.pragma('wal_autocheckpoint = 0');
    holder.prepare("insert into documents (tenant_id, file_path, checksum_sha256, size_bytes, created_at) values (1, 'held', '', 1, '')").run();
    await expect(restorer.checkSwap(scratch, 'chk3')).rejects.toThrow(/another process has it open|another connection holds it/);
    holder.close();
    await restorer.checkSwap(scratch, 'chk3');
    expect(await readFile(live)).toEqual(liveBytes);
    expect(existsSync(`${live}.pre-chk3`)).toBe(false);
  });

  it('refuses to swap while another connection holds the live file open, and changes nothing', async () => {
    const { live, dump, restorer } = await liveWithBackup();
    const scratch = await restorer.restoreToScratch(dump, 'busy', signal());
    const holder = new Database(live, { readonly: true });
    holder.prepare('select count(*) from documents').get();
    await expect(restorer.swapIn(scratch, 'busy')).rejects.toThrow(/still in use.*stop the DMS/);
    holder.close();
    expect(existsSync(`${live}.pre-busy`)).toBe(false);
    expect(existsSync(scratch.name)).toBe(true);
    expect(sqliteFacts(live)).toEqual({ integrity: 'ok', counts: original });
    // Once it is closed, the same swap goes through.
    await restorer.swapIn(scratch, 'busy');
    expect(existsSync(`${live}.pre-busy`)).toBe(true);
  });

  it('refuses bad labels, non-SQLite backups, and dropping or swapping anything but its own copies', async () => {
    const { live, dump, restorer } = await liveWithBackup();
    for (const label of ['../etc', 'two words', '', 'x'.repeat(41), 'a/b', 'a.b', 'ü']) {
      await expect(restorer.restoreToScratch(dump, label, signal())).rejects.toThrow(/restore label/);
      await expect(restorer.swapIn({ engine: 'sqlite', name: `${live}.restore-ok`, location: '' }, label)).rejects.toThrow(/restore label/);
    }
    const asRef = (name: string): DatabaseRef => ({ engine: 'sqlite', name, location: `sqlite:${name}` });
    await expect(restorer.drop(asRef(live))).rejects.toThrow(/live database/);
    await expect(restorer.drop(asRef(path.join(path.dirname(live), '.', 'alphha.db')))).rejects.toThrow(/live database/);
    await expect(restorer.drop(asRef(`${live}-wal`))).rejects.toThrow(/not a restored or kept copy/);
    await expect(restorer.drop(asRef(dump))).rejects.toThrow(/not a restored or kept copy/);
    await expect(restorer.swapIn(asRef(live), 'self')).rejects.toThrow(/live database/);
    await expect(restorer.drop({ engine: 'postgres', name: 'x', location: 'x' })).rejects.toThrow(/not a SQLite database/);
    const notSqlite = path.join(path.dirname(dump), 'garbage.sqlite');
    await writeFile(notSqlite, 'PGDMP this is not SQLite');
    await expect(restorer.restoreToScratch(notSqlite, 'junk', signal())).rejects.toThrow(/not a SQLite database file/);
    expect((await readdir(path.dirname(live))).filter((name) => name.includes('.restore-'))).toEqual([]);
    expect(existsSync(dump)).toBe(true);
    expect(sqliteFacts(live)).toEqual({ integrity: 'ok', counts: original });
  });

  it('leaves the live file whole, old or new, whenever the swapping process is SIGKILLed', { timeout: 120_000 }, async () => {
    const a = original;
    const b = plus(original, 4);
    const seen: string[] = [];
    const phases = { settling: 0, linked: 0, renamed: 0 };
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const dir = await mkdtemp(path.join(tmpdir(), 'dr-restorer-crash-'));
      dirs.push(dir);
      const live = path.join(dir, 'alphha.db');
      await copyFile(pristine, live);
      await copyFile(pristine, `${live}.restore-b`);
      addDocuments(`${live}.restore-b`, 4, 'b');
      // One swap takes ~3 ms here (the first one longer): 0-25 ms lands anywhere in the first few swaps.
      const finished = await killMidSwap(['sqlite', live, `${live}.restore-b`, 'k'], Math.floor(Math.random() * 26));

      const facts = sqliteFacts(live);
      expect(facts.integrity).toBe('ok');
      expect([a, b]).toContainEqual(facts.counts);
      // Nothing is lost either: the other database is still there, kept or not yet swapped in.
      const copies = (await readdir(dir)).filter((name) => /^alphha\.db(\.pre-k\d+|\.restore-b)?$/.test(name));
      const states = copies.map((name) => sqliteFacts(path.join(dir, name)).counts);
      expect(states).toContainEqual(a);
      expect(states).toContainEqual(b);
      // Where the swap in progress was cut: before its link, between link and rename, or after the rename.
      const replacement = finished === 0 ? `${live}.restore-b` : `${live}.pre-k${finished - 1}`;
      const phase = !existsSync(`${live}.pre-k${finished}`) ? 'settling' : existsSync(replacement) ? 'linked' : 'renamed';
      phases[phase] += 1;
      seen.push(`${finished}:${facts.counts?.documents === a.documents ? 'old' : 'new'}`);
      await rm(dir, { recursive: true, force: true });
    }
    console.log(`SQLite: swaps finished before each kill, and what was live: ${seen.join(' ')}; swap in progress cut ${JSON.stringify(phases)}`);
  });
});

/** What a DMS killed before any checkpoint leaves: `n` committed rows that exist only in the file's -wal. */
async function dieWithRowsInWal(file: string, n: number): Promise<void> {
  const writer = spawn(process.execPath, ['-e', `
    const db = new (require('better-sqlite3'))(process.argv[1]);
    db.pragma('wal_autocheckpoint = 0');
    const insert = db.prepare("insert into documents (tenant_id, file_path, checksum_sha256, size_bytes, created_at) values (1, ?, '', 1, '')");
    for (let i = 0; i < ${n}; i++) insert.run('wal-only/' + i);
    process.kill(process.pid, 'SIGKILL');
  `, file], { cwd: ROOT, stdio: 'inherit' });
  await new Promise((resolve) => writer.once('exit', resolve));
}

describe.skipIf(!hasPostgres)('PostgresRestorer (real PostgreSQL)', () => {
  let sandbox: Sandbox;
  let database: string;
  let original: Counts;
  let workDir: string;

  beforeAll(async () => {
    sandbox = await tempSandbox({ database: 'postgres' });
    database = sandbox.manifest.pgDatabase!;
    original = { documents: sandbox.counts.documents, users: sandbox.counts.users, tenants: sandbox.counts.tenants };
    workDir = await mkdtemp(path.join(tmpdir(), 'dr-restorer-pg-'));
  });
  afterAll(async () => {
    // The sandbox drops its database and every <db>_* sibling a restore made.
    await sandbox?.destroy();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  const urlOf = (name: string) => {
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${name}`;
    return url.toString();
  };
  async function query<Row extends pg.QueryResultRow>(name: string, sql: string, params: unknown[] = [], attempt = 1): Promise<Row[]> {
    const client = new pg.Client({ connectionString: urlOf(name) });
    try {
      await client.connect();
    } catch (error) {
      // A connection that arrives while a swap commits is told the name moved ("just been dropped or renamed"): retry, as any client would.
      if (attempt < 3 && /renamed/.test(String((error as { detail?: unknown }).detail))) return query(name, sql, params, attempt + 1);
      throw error;
    }
    try {
      return (await client.query<Row>(sql, params)).rows;
    } finally {
      await client.end();
    }
  }
  const countsOf = async (name: string): Promise<Counts> => {
    const [row] = await query<{ documents: string; users: string; tenants: string }>(name,
      'select (select count(*) from documents) as documents, (select count(*) from users) as users, (select count(*) from tenants) as tenants');
    return { documents: Number(row!.documents), users: Number(row!.users), tenants: Number(row!.tenants) };
  };
  const databases = async (): Promise<string[]> =>
    (await query<{ datname: string }>('postgres', 'select datname from pg_database where datname like $1 order by datname', [`${database}%`])).map((r) => r.datname);
  const addPgDocuments = (name: string, n: number, tag: string) =>
    query(name, `insert into documents (tenant_id, file_path, checksum_sha256, size_bytes, created_at)
                 select 1, $1 || g, '', 1, now() from generate_series(1, ${n}) g`, [`added/${tag}-`]);
  async function dumpLive(file: string): Promise<string> {
    const dump = path.join(workDir, file);
    expect((await new PostgresDumper(sandbox.databaseUrl).dumpTo(dump, signal())).integrity).toBe('ok');
    return dump;
  }

  it('gives the restored database the live name when the live database is gone (a complete loss)', async () => {
    const before = await countsOf(database);
    const dump = await dumpLive('lost.dump');
    const restorer = new PostgresRestorer(sandbox.databaseUrl);
    const scratch = await restorer.restoreToScratch(dump, 'lost1', signal());
    await query('postgres', `drop database ${database} with (force)`);
    expect(await restorer.swapIn(scratch, 'lost1')).toBeUndefined();
    expect(await countsOf(database)).toEqual(before);
    expect(await databases()).toContain(database);
    expect(await databases()).not.toContain(scratch.name);
  });

  it('restores into <db>_restore_<label>, swaps it in while sessions come and go, keeps the old one, and undoes', async () => {
    // Trust auth ignores the password; it is here to show that no name or location ever carries it.
    const withPassword = new URL(sandbox.databaseUrl);
    withPassword.password = 'Sw0rdfish-not-shown';
    const restorer = new PostgresRestorer(withPassword.toString());
    const dump = await dumpLive('flow.dump');
    await addPgDocuments(database, 5, 'after-backup');

    const scratch = await restorer.restoreToScratch(dump, 'R20260102T030405Z', signal());
    expect(scratch).toMatchObject({ engine: 'postgres', name: `${database}_restore_r20260102t030405z` });
    expect(scratch.location).toContain(`/${database}_restore_r20260102t030405z`);
    expect(scratch.location).not.toContain('Sw0rdfish');
    expect(await restorer.inspect(scratch, signal())).toEqual({ integrity: 'ok', counts: original });

    // A session left open on the live database, and a client reconnecting to it all the time.
    const straggler = new pg.Client({ connectionString: sandbox.databaseUrl });
    const stragglerErrors: unknown[] = [];
    straggler.on('error', (error) => stragglerErrors.push((error as { code?: unknown }).code));
    await straggler.connect();
    let hammering = true;
    let reconnects = 0;
    const hammer = (async () => {
      while (hammering) {
        const client = new pg.Client({ connectionString: sandbox.databaseUrl });
        client.on('error', () => {});
        await client.connect().then(() => client.query('select count(*) from documents')).then(() => (reconnects += 1), () => {});
        await client.end().catch(() => {});
      }
    })();
    while (reconnects < 3) await sleep(5);
    const started = Date.now();
    const kept = (await restorer.swapIn(scratch, 'R20260102T030405Z'))!;
    const swapMs = Date.now() - started;
    hammering = false;
    await hammer;
    expect(kept).toMatchObject({ engine: 'postgres', name: `${database}_pre_r20260102t030405z` });
    expect(kept.location).not.toContain('Sw0rdfish');
    expect(stragglerErrors).toContain('57P01'); // terminated by the swap
    expect(await countsOf(database)).toEqual(original); // the rows added after the backup are gone…
    expect(await restorer.inspect(kept, signal())).toEqual({ integrity: 'ok', counts: plus(original, 5) }); // …and kept
    expect(await databases()).toEqual([database, kept.name].sort());

    const keptAgain = (await restorer.swapIn(kept, 'undo1'))!;
    expect(await countsOf(database)).toEqual(plus(original, 5));
    expect(await restorer.inspect(keptAgain, signal())).toEqual({ integrity: 'ok', counts: original });
    await restorer.drop(keptAgain);
    expect(await databases()).toEqual([database]);
    console.log(`PostgreSQL swap with a straggler and a reconnecting client: ${swapMs} ms, ${reconnects} reconnects meanwhile`);
  });

  it('checks a swap before the DMS stops: the replacement exists, the kept name is free', async () => {
    const restorer = new PostgresRestorer(sandbox.databaseUrl);
    const dump = await dumpLive('check.dump');
    const scratch = await restorer.restoreToScratch(dump, 'chk', signal());
    await restorer.checkSwap(scratch, 'chk');
    await query('postgres', `create database ${database}_pre_taken`);
    await expect(restorer.checkSwap(scratch, 'taken')).rejects.toThrow(new RegExp(`database ${database}_pre_taken already exists; use another label`));
    await expect(restorer.checkSwap(restorer.scratchFor('nothere'), 'chk')).rejects.toThrow(new RegExp(`database ${database}_restore_nothere does not exist`));
    await query('postgres', `drop database ${database}_pre_taken`);
    await restorer.drop(scratch);
    expect(await databases()).toEqual([database]);
  });

  it('undoes a restore over a database that fails its check: the kept database goes back exactly as it was', async () => {
    const restorer = new PostgresRestorer(sandbox.databaseUrl);
    const dump = await dumpLive('undo-damaged.dump');
    const before = await countsOf(database);
    // An attacker renames a table away: the live database no longer passes the check.
    await query(database, 'alter table documents rename to documents_gone');
    try {
      const scratch = await restorer.restoreToScratch(dump, 'dmg', signal());
      await restorer.checkSwap(scratch, 'dmg');
      const kept = (await restorer.swapIn(scratch, 'dmg'))!;
      expect(await countsOf(database)).toEqual(before);
      const found = await restorer.inspect(kept, signal());
      expect(found.integrity).toMatch(/documents.* does not exist/);

      await restorer.checkSwap(kept, 'undo-dmg', { asIs: true });
      const keptAgain = (await restorer.swapIn(kept, 'undo-dmg', { asIs: true }))!;
      expect(await query(database, "select count(*)::int as n from information_schema.tables where table_name = 'documents_gone'")).toEqual([{ n: 1 }]);
      expect(await restorer.inspect(keptAgain, signal())).toEqual({ integrity: 'ok', counts: before });
      // Back to a sound live database for the tests after this one.
      await restorer.swapIn(keptAgain, 'redo-dmg');
    } finally {
      const tables = await query<{ table_name: string }>(database, "select table_name from information_schema.tables where table_name in ('documents', 'documents_gone')");
      if (tables.some((t) => t.table_name === 'documents_gone')) await query(database, 'alter table documents_gone rename to documents');
      for (const name of await databases()) if (name !== database) await restorer.drop({ engine: 'postgres', name, location: name });
    }
    expect(await databases()).toEqual([database]);
  });

  it('drops the half-restored database when pg_restore fails, and says why', async () => {
    const restorer = new PostgresRestorer(sandbox.databaseUrl);
    const dump = await dumpLive('whole.dump');
    // Cut the dump short: the schema restores, then pg_restore runs out of input.
    const cut = path.join(workDir, 'cut.dump');
    await copyFile(dump, cut);
    await truncate(cut, Math.floor((await stat(dump)).size * 0.6));
    await expect(restorer.restoreToScratch(cut, 'cut', signal())).rejects.toThrow(/restoring .*cut\.dump into .*_restore_cut failed: pg_restore exited with 1: pg_restore: error/);
    expect(await databases()).toEqual([database]);
    // A scratch database that is already there is not restored over.
    const scratch = await restorer.restoreToScratch(dump, 'twice', signal());
    await expect(restorer.restoreToScratch(dump, 'twice', signal())).rejects.toThrow(/already exists/);
    // What start-up drops for an interrupted run is named from its label alone; dropping it twice is harmless.
    expect(restorer.scratchFor('twice')).toEqual(scratch);
    await restorer.drop(restorer.scratchFor('twice'));
    await restorer.drop(restorer.scratchFor('twice'));
    expect(await databases()).toEqual([database]);
  });

  it('refuses bad labels and dropping the live database; keeps names within 63 bytes', async () => {
    const restorer = new PostgresRestorer(sandbox.databaseUrl);
    const dump = await dumpLive('labels.dump');
    for (const label of ['../x', 'two words', '', 'x'.repeat(41), 'a;drop']) {
      await expect(restorer.restoreToScratch(dump, label, signal())).rejects.toThrow(/restore label/);
    }
    const asRef = (name: string): DatabaseRef => ({ engine: 'postgres', name, location: name });
    await expect(restorer.drop(asRef(database))).rejects.toThrow(/live database/);
    await expect(restorer.swapIn(asRef(database), 'self')).rejects.toThrow(/live database/);
    for (const name of ['postgres', 'template1', `${database}_other`, 'someone_else_restore_x']) {
      await expect(restorer.drop(asRef(name))).rejects.toThrow(/not a restored or kept copy/);
    }
    expect(await databases()).toEqual([database]);

    // A live database whose name is already 63 bytes: the restore's name is shortened, not cut by the server.
    const long = `dr_restorer_${'é'.repeat(20)}_${'x'.repeat(10)}`; // 63 bytes
    expect(Buffer.byteLength(long)).toBe(63);
    await query('postgres', `create database "${long}"`);
    try {
      const longUrl = new URL(PG_ADMIN_URL);
      longUrl.pathname = `/${encodeURIComponent(long)}`;
      const longRestorer = new PostgresRestorer(longUrl.toString());
      const scratch = await longRestorer.restoreToScratch(dump, 'L'.repeat(40), signal());
      expect(Buffer.byteLength(scratch.name)).toBeLessThanOrEqual(63);
      expect(scratch.name).toBe(`dr_restorer_é_restore_${'l'.repeat(40)}`);
      expect(await longRestorer.inspect(scratch, signal())).toEqual({ integrity: 'ok', counts: await countsOf(database) });
      await longRestorer.drop(scratch);
      expect(await query('postgres', 'select 1 from pg_database where datname = $1', [scratch.name])).toEqual([]);
    } finally {
      for (const name of [long, `dr_restorer_é_restore_${'l'.repeat(40)}`]) await query('postgres', `drop database if exists "${name}" with (force)`);
    }
  });

  it('leaves the live database whole, old or new, whenever the swapping process is SIGKILLed', { timeout: 180_000 }, async () => {
    const restorer = new PostgresRestorer(sandbox.databaseUrl);
    const dump = await dumpLive('crash.dump');
    const a = await countsOf(database);
    const b = plus(a, 4);
    // The other database starts as a restore of the live one, with 4 more rows.
    let other = (await restorer.restoreToScratch(dump, 'crash', signal())).name;
    await addPgDocuments(other, 4, 'b');
    const seen: string[] = [];
    for (let attempt = 0; attempt < 10; attempt += 1) {
      const finished = await killMidSwap(['postgres', sandbox.databaseUrl, other, `c${attempt}k`], Math.floor(Math.random() * 60));
      const live = await countsOf(database);
      expect([a, b]).toContainEqual(live);
      // Exactly one sibling holds the other state; it becomes the next attempt's replacement, the rest go.
      const siblings = (await databases()).filter((name) => name !== database);
      const states = await Promise.all(siblings.map(async (name) => ({ name, counts: await countsOf(name) })));
      const otherState = live.documents === a.documents ? b : a;
      const holder = states.find((s) => s.counts.documents === otherState.documents);
      expect(holder).toBeDefined();
      other = holder!.name;
      for (const s of states) if (s.name !== other) await restorer.drop({ engine: 'postgres', name: s.name, location: s.name });
      seen.push(`${finished}:${live.documents === a.documents ? 'a' : 'b'}`);
    }
    console.log(`PostgreSQL: swaps finished before each kill, and which database was live: ${seen.join(' ')}`);
  });
});
