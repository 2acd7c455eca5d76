import Database from 'better-sqlite3';
import pg from 'pg';
import type { AuditLedger, LedgerRow } from '../../ports/dms.ts';

/** `audit_ledger` rows newer than a moment, from the DMS database (SQLite opened read-only, or PostgreSQL). */
export class DatabaseAuditLedger implements AuditLedger {
  constructor(private readonly databaseUrl: string) {}

  async since(from: Date): Promise<LedgerRow[]> {
    if (this.databaseUrl.startsWith('sqlite:')) {
      const db = new Database(this.databaseUrl.slice('sqlite:'.length), { readonly: true, fileMustExist: true });
      try {
        // The DMS stores SQLite times as 'YYYY-MM-DD HH:MM:SS' in UTC, which compare correctly as text.
        const rows = db
          .prepare('select id, created_at, actor, action, detail from audit_ledger where created_at >= ? order by created_at, id')
          .all(from.toISOString().slice(0, 19).replace('T', ' ')) as Array<Omit<LedgerRow, 'created_at'> & { created_at: string }>;
        return rows.map((row) => ({ ...row, detail: row.detail ?? '', created_at: new Date(`${row.created_at.replace(' ', 'T')}Z`).toISOString() }));
      } finally {
        db.close();
      }
    }
    const client = new pg.Client({ connectionString: this.databaseUrl, connectionTimeoutMillis: 10_000 });
    client.on('error', () => {});
    await client.connect();
    try {
      const { rows } = await client.query<{ id: number; created_at: Date; actor: string; action: string; detail: string | null }>(
        'select id, created_at, actor, action, detail from audit_ledger where created_at >= $1 order by created_at, id',
        [from],
      );
      return rows.map((row) => ({ id: Number(row.id), created_at: row.created_at.toISOString(), actor: row.actor, action: row.action, detail: row.detail ?? '' }));
    } finally {
      await client.end().catch(() => {});
    }
  }
}
