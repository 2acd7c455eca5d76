import Database from 'better-sqlite3';
import pg from 'pg';

/**
 * Runs one read-only query against the DMS database named by `database.url`: SQLite opened read-only for
 * the call, or a short-lived PostgreSQL connection. The two dialects get their own SQL text.
 */
export async function queryDms<Row>(databaseUrl: string, sql: { sqlite: string; postgres: string }, params: readonly unknown[] = []): Promise<Row[]> {
  return runDmsQuery<Row>(databaseUrl, sql, params, 'objects');
}

/** As `queryDms`, each row an array of its columns in select order: no object per row, for tables read whole. */
export async function queryDmsTuples<Tuple extends unknown[]>(databaseUrl: string, sql: { sqlite: string; postgres: string }, params: readonly unknown[] = []): Promise<Tuple[]> {
  return runDmsQuery<Tuple>(databaseUrl, sql, params, 'tuples');
}

async function runDmsQuery<Row>(databaseUrl: string, sql: { sqlite: string; postgres: string }, params: readonly unknown[], shape: 'objects' | 'tuples'): Promise<Row[]> {
  if (databaseUrl.startsWith('sqlite:')) {
    const db = new Database(databaseUrl.slice('sqlite:'.length), { readonly: true, fileMustExist: true });
    try {
      const statement = db.prepare(sql.sqlite);
      return (shape === 'tuples' ? statement.raw() : statement).all(...params) as Row[];
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    const query = { text: sql.postgres, values: [...params], ...(shape === 'tuples' ? { rowMode: 'array' as const } : {}) };
    return (await client.query(query)).rows as Row[];
  } finally {
    await client.end().catch(() => {});
  }
}
