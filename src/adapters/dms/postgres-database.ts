import pg from 'pg';
import type { DatabaseFacts, DmsDatabase } from '../../ports/dms.ts';

/** The DMS's PostgreSQL database: connect, `SELECT 1`, server version and row counts, in a read-only transaction. */
export class PostgresDmsDatabase implements DmsDatabase {
  constructor(private readonly url: string, private readonly connectTimeoutMs = 10_000) {}

  get location(): string {
    return redactUrl(this.url);
  }

  async ping(signal: AbortSignal): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: this.connectTimeoutMs, application_name: 'dr-bot probe' });
    client.on('error', () => {});
    const onAbort = () => void client.end().catch(() => {});
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await client.connect();
      await client.query('SELECT 1');
    } finally {
      signal.removeEventListener('abort', onAbort);
      await client.end().catch(() => {});
    }
  }

  async probe(signal: AbortSignal): Promise<DatabaseFacts> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: this.connectTimeoutMs, application_name: 'dr-bot status' });
    // A client whose deadline passed is ended; its late errors must not surface as unhandled.
    client.on('error', () => {});
    const onAbort = () => void client.end().catch(() => {});
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await client.connect();
      await client.query('BEGIN READ ONLY');
      await client.query('SELECT 1');
      const version = (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? 'unknown';
      const counts = await client.query<{ documents: string; users: string; tenants: string }>(
        'SELECT (SELECT count(*) FROM documents) AS documents, (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM tenants) AS tenants',
      );
      const row = counts.rows[0];
      await client.query('ROLLBACK');
      return {
        engine: 'postgres',
        version,
        integrity: 'ok',
        counts: { documents: Number(row?.documents ?? 0), users: Number(row?.users ?? 0), tenants: Number(row?.tenants ?? 0) },
      };
    } finally {
      signal.removeEventListener('abort', onAbort);
      await client.end().catch(() => {});
    }
  }
}

/** A connection URL with its password (in the userinfo or a `password=` parameter) replaced, safe to show. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    for (const key of [...parsed.searchParams.keys()]) if (/pass/i.test(key)) parsed.searchParams.set(key, '***');
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
  }
}
