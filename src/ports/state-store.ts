import type { AuditEntry, AuditEntryInput } from '../domain/audit.ts';

/** The bot's own durable state (SQLite or PostgreSQL behind one interface). */
export interface StateStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Cheap round trip, for /healthz. */
  ping(): Promise<void>;
  /** Appends one hash-chained audit row; concurrent appends are serialized. */
  appendAudit(entry: AuditEntryInput): Promise<AuditEntry>;
  /** Audit rows in id order, from `afterId` (exclusive), at most `limit`. */
  listAudit(options?: { afterId?: number; limit?: number }): Promise<AuditEntry[]>;
  close(): Promise<void>;
}
