import { createHash } from 'node:crypto';
import canonicalizeModule from 'canonicalize';

// The package is CommonJS whose typings claim an ES default export; at run time the import is the function.
const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

/** Where a command came from: a Slack user, a terminal, the scheduler or an HTTP caller. */
export type AuditSource = 'slack' | 'cli' | 'scheduler' | 'http';

/** What a caller records: who did what, where, and how it ended. */
export interface AuditEntryInput {
  source: AuditSource;
  actor: string;
  channel: string;
  command: string;
  text: string;
  outcome: string;
  detail?: Record<string, unknown>;
}

/** A stored audit row: `hash` chains it to the row before, so an edit or a deletion shows. */
export interface AuditEntry extends Required<AuditEntryInput> {
  id: number;
  at: string;
  prevHash: string;
  hash: string;
}

/** The hash the first row chains to. */
export const GENESIS_HASH = '0'.repeat(64);

/** SHA-256 over the previous row's hash followed by this row's canonical (RFC 8785) JSON. */
export function auditHash(prevHash: string, entry: Omit<AuditEntry, 'prevHash' | 'hash'>): string {
  const body = canonicalize({
    id: entry.id,
    at: entry.at,
    source: entry.source,
    actor: entry.actor,
    channel: entry.channel,
    command: entry.command,
    text: entry.text,
    outcome: entry.outcome,
    detail: entry.detail,
  });
  return createHash('sha256').update(prevHash).update(body ?? '').digest('hex');
}

/** Result of walking the chain: ok, or the first row that does not fit and why. */
export type ChainVerdict =
  | { ok: true; checked: number }
  | { ok: false; checked: number; badId: number; reason: string };

/** Walks rows in id order from the genesis hash; any edited, inserted or deleted row breaks it. */
export function verifyAuditChain(entries: readonly AuditEntry[], startHash = GENESIS_HASH): ChainVerdict {
  let prevHash = startHash;
  let previousId: number | undefined;
  for (const [index, entry] of entries.entries()) {
    if (previousId !== undefined && entry.id !== previousId + 1) {
      return { ok: false, checked: index, badId: entry.id, reason: `row ${previousId + 1} is missing` };
    }
    if (entry.prevHash !== prevHash) {
      return { ok: false, checked: index, badId: entry.id, reason: 'does not chain to the row before it' };
    }
    if (auditHash(prevHash, entry) !== entry.hash) {
      return { ok: false, checked: index, badId: entry.id, reason: 'content does not match its hash (edited)' };
    }
    prevHash = entry.hash;
    previousId = entry.id;
  }
  return { ok: true, checked: entries.length };
}
