import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { DrError, errorText } from '../../domain/errors.ts';
import type { DatabaseInspection, DatabaseRef, DatabaseRestorer, SwapOptions } from '../../ports/dms.ts';
import { redactUrl } from './postgres-database.ts';
import { runTool, splitPassword } from './postgres-dumper.ts';
import { assertRestoreLabel, RESTORE_LABEL } from './sqlite-restorer.ts';

// PostgreSQL cuts longer identifiers silently (NAMEDATALEN - 1); cutting them ourselves keeps the name we report the real one.
const MAX_NAME_BYTES = 63;
const OBJECT_IN_USE = '55006';
const DUPLICATE_DATABASE = '42P04';
const SYSTEM_DATABASES = new Set(['postgres', 'template0', 'template1']);
// pg_restore's parallel jobs (this kind of machine has 2 cores), and swap tries while sessions keep arriving.
const RESTORE_JOBS = 2;
const SWAP_ATTEMPTS = 5;
const COUNTS_SQL = 'SELECT (SELECT count(*) FROM documents) AS documents, (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM tenants) AS tenants';

/**
 * Restores `pg_dump -Fc` backups into `<db>_restore_<label>` on the live server and swaps them in by renaming
 * databases in one transaction, keeping the old one as `<db>_pre_<label>`.
 */
export class PostgresRestorer implements DatabaseRestorer {
  readonly engine = 'postgres' as const;
  /** The live database's name. */
  private readonly database: string;

  constructor(private readonly databaseUrl: string) {
    const url = new URL(databaseUrl);
    // As libpq does, a URL without a database means the database named after the user.
    this.database = decodeURIComponent(url.pathname.slice(1)) || decodeURIComponent(url.username);
    if (!this.database) throw new DrError('CONFIG_INVALID', `${redactUrl(databaseUrl)} names no database`);
  }

  async restoreToScratch(dumpFile: string, label: string, signal: AbortSignal): Promise<DatabaseRef> {
    assertRestoreLabel(label);
    const name = siblingName(this.database, 'restore', label);
    await this.maintenance(`create database ${name}`, async (client) => {
      // template0, as pg_restore's documentation asks (template1 may hold objects of its own), with the live
      // database's encoding and locale so that text sorts and compares as it did.
      const live = (
        await client.query<{ encoding: string; collate: string; ctype: string }>(
          'SELECT pg_encoding_to_char(encoding) AS encoding, datcollate AS collate, datctype AS ctype FROM pg_database WHERE datname = $1',
          [this.database],
        )
      ).rows[0];
      const locale = live ? ` ENCODING ${client.escapeLiteral(live.encoding)} LC_COLLATE ${client.escapeLiteral(live.collate)} LC_CTYPE ${client.escapeLiteral(live.ctype)}` : '';
      try {
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)} TEMPLATE template0${locale}`);
      } catch (error) {
        if ((error as { code?: unknown }).code === DUPLICATE_DATABASE) throw new DrError('RESTORE_FAILED', `database ${name} already exists; drop it or use another label`);
        throw error;
      }
    });
    // The password travels in PGPASSWORD only: a command line is visible to every user of the machine.
    const { url, password } = splitPassword(this.urlFor(name));
    const env = { ...process.env, ...(password ? { PGPASSWORD: password } : {}), PGAPPNAME: 'dr-bot restore' };
    try {
      await runTool('pg_restore', ['--exit-on-error', '--no-password', `--jobs=${RESTORE_JOBS}`, `--dbname=${url}`, dumpFile], env, signal);
    } catch (error) {
      // A half-restored database must not be mistaken for a restore later.
      await this.dropDatabase(name).catch(() => {});
      if (signal.aborted) throw signal.reason;
      throw new DrError('RESTORE_FAILED', `restoring ${dumpFile} into ${name} failed: ${errorText(error)}`, { cause: error });
    }
    return this.ref(name);
  }

  async inspect(target: DatabaseRef, signal: AbortSignal): Promise<DatabaseInspection> {
    if (target.engine !== 'postgres') throw new DrError('RESTORE_FAILED', `${target.location} is not a PostgreSQL database`);
    signal.throwIfAborted();
    const client = new pg.Client({ connectionString: this.urlFor(target.name), connectionTimeoutMillis: 10_000, application_name: 'dr-bot restore check' });
    // A client ended at the deadline reports late errors; they must not surface as unhandled.
    client.on('error', () => {});
    const onAbort = () => void client.end().catch(() => {});
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      try {
        await client.connect();
      } catch (error) {
        throw new DrError('RESTORE_FAILED', `cannot connect to database ${target.name}: ${errorText(error)}`, { cause: error });
      }
      // Connecting proves the catalog is readable; counting reads each table through. A failure is the finding.
      try {
        await client.query('BEGIN READ ONLY');
        await client.query('SELECT 1');
        const row = (await client.query<{ documents: string; users: string; tenants: string }>(COUNTS_SQL)).rows[0];
        await client.query('ROLLBACK');
        return { integrity: 'ok', counts: { documents: Number(row?.documents ?? 0), users: Number(row?.users ?? 0), tenants: Number(row?.tenants ?? 0) } };
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        return { integrity: errorText(error), counts: { documents: 0, users: 0, tenants: 0 } };
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      await client.end().catch(() => {});
    }
  }

  /**
   * On the live server, while the DMS still runs: the replacement exists, the kept name is free, and this role
   * may rename both databases (their owner, with CREATEDB, or a superuser). The rename moves the database
   * whole, so a kept database that fails its check goes back exactly as it is (`asIs` changes nothing here).
   */
  async checkSwap(replacement: DatabaseRef, label: string, _options?: SwapOptions): Promise<void> {
    assertRestoreLabel(label);
    const source = this.sibling(replacement, 'swap in');
    const kept = siblingName(this.database, 'pre', label);
    if (source === kept) throw new DrError('RESTORE_FAILED', `cannot swap in ${source} under its own name`);
    await this.maintenance(`check the swap of ${source}`, async (client) => {
      const rows = (
        await client.query<{ datname: string; may_rename: boolean }>(
          `SELECT d.datname, (r.rolsuper OR (r.rolcreatedb AND pg_has_role(current_user, d.datdba, 'MEMBER'))) AS may_rename
             FROM pg_database d, pg_roles r WHERE r.rolname = current_user AND d.datname = ANY($1::text[])`,
          [[source, kept, this.database]],
        )
      ).rows;
      const found = new Map(rows.map((row) => [row.datname, row.may_rename]));
      if (!found.has(source)) throw new DrError('RESTORE_FAILED', `database ${source} does not exist`);
      if (found.has(kept)) throw new DrError('RESTORE_FAILED', `database ${kept} already exists; use another label`);
      const refused = [source, this.database].filter((name) => found.get(name) === false);
      if (refused.length) throw new DrError('RESTORE_FAILED', `this role may not rename database ${refused.join(' or ')} (it needs to own it and have CREATEDB, or be a superuser)`);
    });
  }

  /**
   * Both renames run in one transaction (PostgreSQL allows ALTER DATABASE RENAME in a transaction block), so
   * the live name points at the old or the new database and never at none. Each rename locks its database:
   * a session connecting meanwhile waits, then fails with "database was renamed" and reconnects to the new one.
   */
  async swapIn(replacement: DatabaseRef, label: string, _options?: SwapOptions): Promise<DatabaseRef | undefined> {
    assertRestoreLabel(label);
    const source = this.sibling(replacement, 'swap in');
    const kept = siblingName(this.database, 'pre', label);
    if (source === kept) throw new DrError('RESTORE_FAILED', `cannot swap in ${source} under its own name`);
    let liveExisted = true;
    await this.maintenance(`swap ${source} in`, async (client) => {
      const id = (name: string) => client.escapeIdentifier(name);
      for (let attempt = 1; ; attempt += 1) {
        try {
          // After a complete loss the live database may not exist: the restored one simply takes its name.
          liveExisted = (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [this.database])).rowCount === 1;
          if (!liveExisted) {
            await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [source]);
            await client.query(`ALTER DATABASE ${id(source)} RENAME TO ${id(this.database)}`);
            return;
          }
          // A database cannot be renamed while anyone is connected to it. The DMS is stopped, so these are
          // stragglers (a probe, a psql); a session that slips in before the rename makes it fail, and we retry.
          await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid()', [[this.database, source]]);
          await client.query('BEGIN');
          await client.query(`ALTER DATABASE ${id(this.database)} RENAME TO ${id(kept)}`);
          await client.query(`ALTER DATABASE ${id(source)} RENAME TO ${id(this.database)}`);
          await client.query('COMMIT');
          return;
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {});
          const code = (error as { code?: unknown }).code;
          if (code === OBJECT_IN_USE && attempt < SWAP_ATTEMPTS) {
            await sleep(200 * attempt);
            continue;
          }
          if (code === DUPLICATE_DATABASE) throw new DrError('RESTORE_FAILED', `database ${kept} already exists; use another label`, { cause: error });
          throw new DrError('RESTORE_FAILED', `swapping ${source} in for ${this.database} failed: ${errorText(error)}`, { cause: error });
        }
      }
    });
    return liveExisted ? this.ref(kept) : undefined;
  }

  scratchFor(label: string): DatabaseRef {
    assertRestoreLabel(label);
    return this.ref(siblingName(this.database, 'restore', label));
  }

  async drop(target: DatabaseRef): Promise<void> {
    await this.dropDatabase(this.sibling(target, 'drop'));
  }

  /** The database a ref names, if it is one this restorer made beside the live one; never the live one itself. */
  private sibling(target: DatabaseRef, action: string): string {
    if (target.engine !== 'postgres') throw new DrError('RESTORE_FAILED', `cannot ${action} ${target.location}: not a PostgreSQL database`);
    const name = target.name;
    if (name === this.database) throw new DrError('RESTORE_FAILED', `refusing to ${action} database ${name}: it is the live database`);
    if (!SYSTEM_DATABASES.has(name)) {
      for (const kind of ['restore', 'pre'] as const) {
        const marker = `_${kind}_`;
        // The live name may itself contain the marker: accept the name only if it is exactly what we would make.
        for (let at = name.indexOf(marker); at >= 0; at = name.indexOf(marker, at + 1)) {
          const label = name.slice(at + marker.length);
          if (RESTORE_LABEL.test(label) && siblingName(this.database, kind, label) === name) return name;
        }
      }
    }
    throw new DrError('RESTORE_FAILED', `refusing to ${action} database ${name}: not a restored or kept copy of ${this.database}`);
  }

  private async dropDatabase(name: string): Promise<void> {
    // FORCE ends sessions still connected (pg_restore's workers after an abort, a stray psql).
    await this.maintenance(`drop database ${name}`, (client) => client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`));
  }

  /** Runs `fn` on a connection to another database of the same server: one cannot create, rename or drop the database one is connected to. */
  private async maintenance<T>(action: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const other = this.database === 'postgres' ? 'template1' : 'postgres';
    const client = new pg.Client({ connectionString: this.urlFor(other), connectionTimeoutMillis: 10_000, application_name: 'dr-bot restore' });
    client.on('error', () => {});
    try {
      await client.connect();
      return await fn(client);
    } catch (error) {
      throw error instanceof DrError ? error : new DrError('RESTORE_FAILED', `cannot ${action} on ${redactUrl(this.urlFor(other))}: ${errorText(error)}`, { cause: error });
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** The live URL pointing at another database of the same server (node-pg and libpq both decode the path). */
  private urlFor(name: string): string {
    const url = new URL(this.databaseUrl);
    url.pathname = `/${encodeURIComponent(name)}`;
    return url.toString();
  }

  private ref(name: string): DatabaseRef {
    return { engine: 'postgres', name, location: redactUrl(this.urlFor(name)) };
  }
}

/** `<base>_<kind>_<label>` in lower case, the base shortened (by whole characters) to keep the name within 63 bytes. */
function siblingName(base: string, kind: 'restore' | 'pre', label: string): string {
  const suffix = `_${kind}_${label.toLowerCase()}`;
  const characters = [...base];
  while (Buffer.byteLength(characters.join('') + suffix) > MAX_NAME_BYTES) characters.pop();
  return characters.join('') + suffix;
}
