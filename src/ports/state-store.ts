import type { AuditEntry, AuditEntryInput } from '../domain/audit.ts';

/** The bot's own durable state (SQLite or PostgreSQL behind one interface). */
export interface StateStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Cheap round trip, for /healthz. */
  ping(): Promise<void>;
  /** Appends one hash-chained audit row; concurrent appends are serialized. */
  appendAudit(entry: AuditEntryInput): Promise<AuditEntry>;
  /** Audit rows after `afterId` (exclusive), at most `limit`, oldest first unless `order` is `desc`. */
  listAudit(options?: { afterId?: number; limit?: number; order?: 'asc' | 'desc' }): Promise<AuditEntry[]>;
  close(): Promise<void>;
}
