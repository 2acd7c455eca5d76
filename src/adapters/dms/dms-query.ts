import Database from 'better-sqlite3';
import pg from 'pg';

/**
 * Runs one read-only query against the DMS database named by `database.url`: SQLite opened read-only for
 * the call, or a short-lived PostgreSQL connection. The two dialects get their own SQL text.
 */
export async function queryDms<Row>(databaseUrl: string, sql: { sqlite: string; postgres: string }, params: readonly unknown[] = []): Promise<Row[]> {
  if (databaseUrl.startsWith('sqlite:')) {
    const db = new Database(databaseUrl.slice('sqlite:'.length), { readonly: true, fileMustExist: true });
    try {
      return db.prepare(sql.sqlite).all(...params) as Row[];
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query(sql.postgres, [...params])).rows as Row[];
  } finally {
    await client.end().catch(() => {});
  }
}
