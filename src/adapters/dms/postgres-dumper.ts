import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { DrError } from '../../domain/errors.ts';
import type { DatabaseCopy, DatabaseDumper } from '../../ports/dms.ts';
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

  constructor(private readonly databaseUrl: string) {}

  async dumpTo(file: string, signal: AbortSignal): Promise<DatabaseCopy> {
    const { url, password } = splitPassword(this.databaseUrl);
    const env = { ...process.env, ...(password ? { PGPASSWORD: password } : {}), PGAPPNAME: 'dr-bot backup' };
    const [dumpVersion, serverVersion] = await Promise.all([toolVersion('pg_dump', env), this.serverVersion()]);
    if (Math.floor(serverVersion.num / 10000) > dumpVersion.major) {
      throw new DrError('BACKUP_FAILED', `pg_dump ${dumpVersion.text} is older than the server (${serverVersion.text}); install pg_dump ${Math.floor(serverVersion.num / 10000)} or newer`);
    }

    const child = spawn('pg_dump', ['--format=custom', '--no-password', `--dbname=${url}`], { env, stdio: ['ignore', 'pipe', 'pipe'], signal });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    const hash = createHash('sha256');
    const tee = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(child.stdout, tee, createWriteStream(file, { mode: 0o600 }));
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
    const code = await exited;
    if (code !== 0) throw new DrError('BACKUP_FAILED', `pg_dump of ${redactUrl(this.databaseUrl)} exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' ')}`);

    let integrity = 'ok';
    try {
      const listing = await runTool('pg_restore', ['--list', file], env, signal);
      if (!/TABLE DATA/.test(listing)) integrity = 'pg_restore --list shows no table data';
    } catch (error) {
      integrity = `pg_restore --list failed: ${(error as Error).message}`;
    }
    return { engine: 'postgres', tools: { pg_dump: dumpVersion.text, server: serverVersion.text }, integrity, counts: undefined, sha256: hash.digest('hex') };
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

async function toolVersion(tool: string, env: NodeJS.ProcessEnv): Promise<{ major: number; text: string }> {
  const out = await runTool(tool, ['--version'], env).catch((error: Error) => {
    throw new DrError('BACKUP_FAILED', `${tool} is not available: ${error.message}`);
  });
  const text = /(\d+(?:\.\d+)*)/.exec(out)?.[1] ?? 'unknown';
  return { major: Number(text.split('.')[0]), text };
}
