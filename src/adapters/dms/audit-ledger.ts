import type { AuditLedger, LedgerRow } from '../../ports/dms.ts';
import { queryDms } from './dms-query.ts';

/** `audit_ledger` rows newer than a moment, from the DMS database (SQLite opened read-only, or PostgreSQL). */
export class DatabaseAuditLedger implements AuditLedger {
  constructor(private readonly databaseUrl: string) {}

  async since(from: Date): Promise<LedgerRow[]> {
    const sqlite = this.databaseUrl.startsWith('sqlite:');
    // The DMS stores SQLite times as 'YYYY-MM-DD HH:MM:SS' in UTC, which compare correctly as text.
    const rows = await queryDms<{ id: number; created_at: string | Date; actor: string; action: string; detail: string | null }>(
      this.databaseUrl,
      {
        sqlite: 'select id, created_at, actor, action, detail from audit_ledger where created_at >= ? order by created_at, id',
        postgres: 'select id, created_at, actor, action, detail from audit_ledger where created_at >= $1 order by created_at, id',
      },
      [sqlite ? from.toISOString().slice(0, 19).replace('T', ' ') : from],
    );
    return rows.map((row) => ({
      id: Number(row.id),
      created_at: row.created_at instanceof Date ? row.created_at.toISOString() : new Date(`${row.created_at.replace(' ', 'T')}Z`).toISOString(),
      actor: row.actor,
      action: row.action,
      detail: row.detail ?? '',
    }));
  }
}
