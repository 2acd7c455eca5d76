import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { finished as finishedCallback } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import pg from 'pg';
import { sha256OfFile, tapStream } from '../../backup/file-hash.ts';
import { DrError } from '../../domain/errors.ts';
import type { DatabaseCopy, DatabaseDumper, DumpProgress, StreamedCopy } from '../../ports/dms.ts';
import { redactUrl } from './postgres-database.ts';

/** The connection URL without its password, and the password for PGPASSWORD: never on a command line. */
export function splitPassword(url: string): { url: string; password: string | undefined } {
  const parsed = new URL(url);
  const password = parsed.password ? decodeURIComponent(parsed.password) : undefined;
  parsed.password = '';
  return { url: parsed.toString(), password };
}

/** Runs a PostgreSQL client tool with an argument array; resolves with stdout, rejects with its stderr. */
export function runTool(command: string, args: readonly string[], env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], ...(signal ? { signal } : {}) });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err += chunk));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} exited with ${code}: ${err.trim().split('\n').slice(-3).join(' ')}`))));
  });
}

/** `pg_dump -Fc` of the DMS database, hashed while it streams to the file; the copy is checked with `pg_restore --list`. */
export class PostgresDumper implements DatabaseDumper {
  readonly extension = 'dump';

  constructor(
    private readonly databaseUrl: string,
    /** How long pg_dump (and the counts) wait for a table another session holds exclusively (a migration) before failing. */
    private readonly lockWaitMs = LOCK_WAIT_MS,
  ) {}

  async dumpTo(file: string, signal: AbortSignal, progress: (update: DumpProgress) => void = () => {}, readCopy: (file: string) => Promise<string> = sha256OfFile): Promise<DatabaseCopy> {
    const out = createWriteStream(file, { mode: 0o600 });
    let streamed: StreamedCopy;
    try {
      streamed = await this.dumpToStream(out, signal, progress);
      out.end();
      await finished(out);
    } catch (error) {
      out.destroy();
      throw error;
    }
    progress({ bytesDone: 0, phase: 'pg_restore --list and read-back of the dump' });
    // The finished file is read back beside pg_restore --list: both only read it, and the repository commits
    // it by a rename, so this read of the bytes on disk is the backup's re-read.
    const [listing, onDisk] = await Promise.all([
      runTool('pg_restore', ['--list', file], process.env, signal).then(judgeListing, (error: unknown) => `pg_restore --list failed: ${(error as Error).message}`),
      readCopy(file),
    ]);
    if (onDisk !== streamed.sha256) throw new DrError('BACKUP_FAILED', `the dump reads back with SHA-256 ${onDisk.slice(0, 8)}, written as ${streamed.sha256.slice(0, 8)}`);
    return { ...streamed, integrity: listing, sha256: onDisk, sha256FromDisk: true };
  }

  async dumpToStream(out: NodeJS.WritableStream, signal: AbortSignal, progress: (update: DumpProgress) => void = () => {}): Promise<StreamedCopy> {
    const { url, password } = splitPassword(this.databaseUrl);
    const env = { ...process.env, ...(password ? { PGPASSWORD: password } : {}), PGAPPNAME: 'dr-bot backup' };
    const [dumpVersion, serverVersion] = await Promise.all([toolVersion('pg_dump', env), this.serverVersion()]);
    if (Math.floor(serverVersion.num / 10000) > dumpVersion.major) {
      throw new DrError('BACKUP_FAILED', `pg_dump ${dumpVersion.text} is older than the server (${serverVersion.text}); install pg_dump ${Math.floor(serverVersion.num / 10000)} or newer`);
    }

    // pg_dump reads a snapshot this session exports, and the counts are taken in that same snapshot: the
    // manifest's counts are then exactly the dump's, whatever the DMS writes meanwhile.
    const snapshot = await exportSnapshot(this.databaseUrl, this.lockWaitMs);
    try {
      return await this.streamSnapshot(out, signal, progress, { url, env, dumpVersion, serverVersion, snapshot });
    } finally {
      await snapshot.release();
    }
  }

  async checkStream(input: NodeJS.ReadableStream, signal: AbortSignal): Promise<string> {
    const child = spawn('pg_restore', ['--list'], { stdio: ['pipe', 'pipe', 'pipe'], signal });
    let listing = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (listing += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    // pg_restore stops reading once it has the table of contents: the rest still flows to whoever else reads it.
    child.stdin.on('error', () => {});
    input.pipe(child.stdin);
    // A read-back that fails early (the store went silent) never ends stdin: pg_restore would wait for ever.
    finishedCallback(input as NodeJS.ReadableStream & NodeJS.EventEmitter, (error) => {
      if (error) child.kill('SIGKILL');
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    }).finally(() => {
      input.unpipe(child.stdin);
      input.resume();
    });
    if (code !== 0) return `pg_restore --list failed: exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' ')}`;
    return judgeListing(listing);
  }

  private async streamSnapshot(
    out: NodeJS.WritableStream,
    signal: AbortSignal,
    progress: (update: DumpProgress) => void,
    context: { url: string; env: NodeJS.ProcessEnv; dumpVersion: { text: string }; serverVersion: { text: string }; snapshot: ExportedSnapshot },
  ): Promise<StreamedCopy> {
    const { url, env, dumpVersion, serverVersion, snapshot } = context;
    const child = spawn('pg_dump', ['--format=custom', '--no-password', `--lock-wait-timeout=${this.lockWaitMs}ms`, `--snapshot=${snapshot.id}`, `--dbname=${url}`], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      signal,
    });
    // A failed count leaves the dump good: the manifest then says why it has no counts.
    const counting: Promise<Pick<DatabaseCopy, 'counts' | 'countsUnavailable'>> = snapshot.counts().then(
      (counts) => (counts ? { counts } : { counts: undefined, countsUnavailable: `the DMS database lacks one of the tables ${COUNTED_TABLES}` }),
      (error: unknown) => ({ counts: undefined, countsUnavailable: `counting ${COUNTED_TABLES} in the dump's snapshot failed: ${(error as Error).message}` }),
    );
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    // Aborted (the job's deadline), pg_dump's 'error' comes while the pipeline is still the thing awaited.
    exited.catch(() => {});
    // ...and the snapshot's session ends at once, so a count waiting on a lock does not outlive the job.
    const releaseOnAbort = () => void snapshot.release();
    signal.addEventListener('abort', releaseOnAbort, { once: true });
    const hash = createHash('sha256');
    let bytesDone = 0;
    const tee = tapStream((chunk) => {
      hash.update(chunk);
      bytesDone += chunk.length;
      progress({ bytesDone });
    });
    try {
      // `out` is not ended here: pg_dump's exit code is not known yet, and ending an upload commits it.
      await pipeline(child.stdout, tee, out, { end: false });
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
    const counted = await counting;
    signal.removeEventListener('abort', releaseOnAbort);
    const code = await exited;
    // pg_dump is done with the snapshot: the transaction holding it (and vacuum back) ends before the checks.
    await snapshot.release();
    if (code !== 0) throw new DrError('BACKUP_FAILED', `pg_dump of ${redactUrl(this.databaseUrl)} exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' ')}`);
    return { engine: 'postgres', tools: { pg_dump: dumpVersion.text, server: serverVersion.text }, ...counted, sha256: hash.digest('hex') };
  }

  private async serverVersion(): Promise<{ num: number; text: string }> {
    const client = new pg.Client({ connectionString: this.databaseUrl, connectionTimeoutMillis: 10_000 });
    client.on('error', () => {});
    try {
      await client.connect();
      const row = (await client.query<{ num: string; text: string }>("SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS text")).rows[0]!;
      return { num: Number(row.num), text: row.text };
    } finally {
      await client.end().catch(() => {});
    }
  }
}

const COUNTED_TABLES = 'documents, users and tenants';

// A custom-format dump whose table of contents lists no table data is no backup of the DMS.
function judgeListing(listing: string): string {
  return /TABLE DATA/.test(listing) ? 'ok' : 'pg_restore --list shows no table data';
}
// A migration holding a table for longer than this fails the backup (and alerts) instead of stalling it for hours.
const LOCK_WAIT_MS = 10 * 60_000;

/** A snapshot exported by an open read-only transaction, for pg_dump --snapshot and our own counts. */
interface ExportedSnapshot {
  id: string;
  /** Rows of the tables the runbook counts, as this snapshot sees them; undefined when the DMS lacks one. */
  counts(): Promise<{ documents: number; users: number; tenants: number } | undefined>;
  /** Ends the transaction (after pg_dump has finished with the snapshot). */
  release(): Promise<void>;
}

async function exportSnapshot(databaseUrl: string, lockWaitMs: number): Promise<ExportedSnapshot> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000, application_name: 'dr-bot backup' });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const id = (await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0]!.id;
    return {
      id,
      async counts() {
        // Checked first: a failed statement would abort the transaction, and with it the exported snapshot.
        const present = (await client.query<{ ok: boolean }>("SELECT to_regclass('documents') IS NOT NULL AND to_regclass('users') IS NOT NULL AND to_regclass('tenants') IS NOT NULL AS ok")).rows[0]!.ok;
        if (!present) return undefined;
        // Inside a savepoint, a count that fails (a broken view, a lock timeout) leaves the snapshot alive for pg_dump.
        await client.query('SAVEPOINT counting');
        await client.query(`SET LOCAL lock_timeout = ${Math.floor(lockWaitMs)}`);
        try {
          const row = (await client.query<{ documents: string; users: string; tenants: string }>('SELECT (SELECT count(*) FROM documents) AS documents, (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM tenants) AS tenants')).rows[0]!;
          await client.query('RELEASE SAVEPOINT counting');
          return { documents: Number(row.documents), users: Number(row.users), tenants: Number(row.tenants) };
        } catch (error) {
          await client.query('ROLLBACK TO SAVEPOINT counting').catch(() => {});
          throw error;
        }
      },
      // Ending the session ends the transaction; released twice, the second call does nothing.
      release: once(() => client.end().catch(() => {})),
    };
  } catch (error) {
    await client.end().catch(() => {});
    throw new DrError('BACKUP_FAILED', `could not open a snapshot of ${redactUrl(databaseUrl)}: ${(error as Error).message}`);
  }
}

async function toolVersion(tool: string, env: NodeJS.ProcessEnv): Promise<{ major: number; text: string }> {
  const out = await runTool(tool, ['--version'], env).catch((error: Error) => {
    throw new DrError('BACKUP_FAILED', `${tool} is not available: ${error.message}`);
  });
  const text = /(\d+(?:\.\d+)*)/.exec(out)?.[1] ?? 'unknown';
  return { major: Number(text.split('.')[0]), text };
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}
