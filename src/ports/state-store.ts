import type { BackupManifest } from '../backup/manifest.ts';
import type { AuditEntry, AuditEntryInput } from '../domain/audit.ts';
import type { BackupKind } from './backup-repository.ts';
import type { Gate } from '../domain/gate.ts';
import type { Run, RunStatus } from '../domain/run.ts';
import type { Incident } from '../domain/incident.ts';
import type { AlertRecord, AlertSeverity, AlertState, OutboxInput, OutboxMessage, OutboxTarget } from '../domain/alert.ts';

/** The outbox of one target at a glance: what waits, since when, and what was given up on. */
export interface OutboxTargetHealth {
  target: OutboxTarget;
  pending: number;
  /** createdAt of the oldest pending message. */
  oldestPendingAt?: string;
  /** createdAt of the oldest pending new-alert message (a first post, a PagerDuty trigger). */
  oldestTriggerAt?: string;
  /** Messages given up on (since the asked-for time). */
  dead: number;
}

/** Where a PagerDuty incident (by dedup_key) stands, as far as this bot has told PagerDuty. */
export type PagerKeyState = 'triggered' | 'acknowledged' | 'resolved' | 'dropped';

/** The bot's own durable state (SQLite or PostgreSQL behind one interface). */
export interface StateStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Cheap round trip, for /healthz. */
  ping(): Promise<void>;
  /**
   * The health monitor's deeper check; throws, saying why, when the store is not fit to keep what it is
   * given: on SQLite the file at the path is no longer the one opened (deleted, replaced), it fails
   * `quick_check` (`integrity_check` when `full`), or a write cannot commit; on PostgreSQL the server or the
   * database cannot be reached or written. The write is one row per `owner`.
   */
  checkHealth(options: { owner: string; full?: boolean }): Promise<void>;
  /** Calls `listener` whenever a query fails in a way that means the store itself is broken (corrupt, gone, unwritable, disconnected). */
  onFault(listener: (reason: string) => void): void;
  /** Appends one hash-chained audit row; concurrent appends are serialized. */
  appendAudit(entry: AuditEntryInput): Promise<AuditEntry>;
  /** Audit rows after `afterId` (exclusive), at most `limit`, oldest first unless `order` is `desc`. */
  listAudit(options?: { afterId?: number; limit?: number; order?: 'asc' | 'desc' }): Promise<AuditEntry[]>;
  /** Adds a backup to the catalog (or replaces the entry with the same id, for rebuilds). */
  recordBackup(manifest: BackupManifest): Promise<void>;
  /** Claims a scheduled slot (e.g. `backup-db:2026-11-26T03:00:00.000Z`); true for exactly one caller across replicas. */
  claimSlot(slot: string, owner: string): Promise<boolean>;
  /**
   * Records the keys of a signed request (its signature, a Slack event id, a PagerDuty event id) in one
   * transaction: for each, true the first time it is seen (it is then kept `keepMs`), false while it is kept —
   * on every replica sharing the store. Expired keys are pruned.
   */
  rememberRequests(keys: readonly string[], keepMs: number): Promise<boolean[]>;
  /** Forgets a remembered key (its request failed before it did anything, so a redelivery must run). */
  forgetRequest(key: string): Promise<void>;
  /**
   * Takes or renews the lease `name` for `owner` until `until`; true while `owner` holds it. It is free when
   * nobody holds it, when it expired before `now`, or when `ownerAlive` knows its holder is dead.
   */
  acquireLease(name: string, owner: string, options: { now: string; until: string; ownerAlive?: (owner: string) => boolean | undefined }): Promise<boolean>;
  /** Gives the lease up, if `owner` still holds it. */
  releaseLease(name: string, owner: string): Promise<void>;
  /** Who holds the lease at `now`, if anyone. */
  leaseHolder(name: string, now: string): Promise<string | undefined>;
  /** Removes a backup from the catalog (after the repository forgot it). */
  forgetBackup(id: string): Promise<void>;
  /** Catalog entries, newest first, optionally of one kind. */
  listCatalog(options?: { kind?: BackupKind; limit?: number }): Promise<BackupManifest[]>;
  /** Stores a new gate. */
  createGate(gate: Gate): Promise<void>;
  getGate(id: string): Promise<Gate | undefined>;
  /** Gates still waiting for a confirmation or an approval, oldest first. */
  listOpenGates(): Promise<Gate[]>;
  /**
   * Compare-and-set: applies `next` only if the stored gate still has `expectedVersion`, bumping the version.
   * False when someone else moved it first (a double click, a Slack retry, another replica).
   */
  updateGate(id: string, expectedVersion: number, next: Partial<Omit<Gate, 'id' | 'version'>>): Promise<boolean>;
  /** Stores a new run. */
  createRun(run: Run): Promise<void>;
  /** Replaces a run's mutable fields (status, steps, summary, heartbeat, message). */
  updateRun(run: Run): Promise<void>;
  getRun(id: string): Promise<Run | undefined>;
  /** Runs, newest first, optionally filtered. */
  listRuns(options?: { status?: RunStatus; procedure?: string; limit?: number }): Promise<Run[]>;
  /** Alerts by fingerprint (those that exist). */
  getAlerts(fingerprints: readonly string[]): Promise<AlertRecord[]>;
  /** Alerts in these states, newest first. */
  listAlerts(options?: { states?: readonly AlertState[]; limit?: number }): Promise<AlertRecord[]>;
  /**
   * Reads the stored alerts with these fingerprints, lets `decide` compute their changes, and saves the
   * changes with their notifications — all in one transaction holding those alerts (FOR UPDATE on
   * PostgreSQL), so two replicas changing one alert never lose an update and no change is without its messages.
   */
  changeAlerts(fingerprints: readonly string[], decide: (existing: ReadonlyMap<string, AlertRecord>) => Array<{ record: AlertRecord; outbox: readonly OutboxInput[] }>): Promise<AlertRecord[]>;
  /** The Slack message showing an alert in a channel (its ts, or `digest:<ts>`), if it was posted. */
  alertMessage(fingerprint: string, channel: string): Promise<string | undefined>;
  setAlertMessage(fingerprint: string, channel: string, ts: string): Promise<void>;
  /** setAlertMessage for many alerts shown by one message (a digest). */
  setAlertMessages(fingerprints: readonly string[], channel: string, ts: string): Promise<void>;
  /**
   * Leases due outbox messages of one target to `owner` until `leaseUntil`: only the first pending message
   * of each order key, so one alert's notifications go out in order; a message leased by another live
   * owner is skipped (two replicas never deliver the same one). A lease whose owner `ownerAlive` knows
   * to be dead is taken over at once; such messages come back marked `retaken`.
   */
  claimOutbox(
    target: OutboxTarget,
    now: string,
    options: { owner: string; leaseUntil: string; limit: number; ownerAlive?: (owner: string) => boolean | undefined; minPriority?: number },
  ): Promise<OutboxMessage[]>;
  /**
   * Records a delivery attempt's outcome (delivered, dead, or retry at `nextAttemptAt`) and releases the lease —
   * only while `owner` still holds it (a replica whose lease was taken over must not undo the new holder's work).
   */
  settleOutbox(id: number, outcome: { status: OutboxMessage['status']; attempts: number; nextAttemptAt?: string; lastError?: string; deliveredAt?: string }, owner?: string): Promise<void>;
  /** Marks many messages delivered at `deliveredAt` (each with its attempt count) and releases them, as settleOutbox does. */
  settleDelivered(messages: ReadonlyArray<{ id: number; attempts: number }>, deliveredAt: string, owner?: string): Promise<void>;
  /** Outbox messages, for tests and `/dr alerts`: by status, oldest first. */
  listOutbox(options?: { status?: OutboxMessage['status']; target?: OutboxTarget; limit?: number }): Promise<OutboxMessage[]>;
  /**
   * Pending, oldest-pending and dead figures per target that has any (metrics, health notices, `/dr status`);
   * dead messages are counted from `deadSince` (when they were given up on), all of them without it.
   */
  outboxHealth(options?: { deadSince?: string }): Promise<OutboxTargetHealth[]>;
  /** Alerts of one Alertmanager group, optionally of one severity and in some states, oldest first, at most `limit`. */
  listGroupAlerts(group: string, options?: { states?: readonly AlertState[]; severity?: AlertSeverity; limit?: number }): Promise<AlertRecord[]>;
  /** How many alerts of one Alertmanager group (optionally of one severity) are in each state. */
  countGroupAlerts(group: string, options?: { severity?: AlertSeverity }): Promise<Partial<Record<AlertState, number>>>;
  /** What was last told to PagerDuty about this dedup_key, if anything. */
  pagerKeyState(dedupKey: string): Promise<PagerKeyState | undefined>;
  setPagerKeyState(dedupKey: string, state: PagerKeyState): Promise<void>;
  /** The Slack messages showing these alerts in one channel, by fingerprint (as {@link alertMessage}). */
  alertMessages(fingerprints: readonly string[], channel: string): Promise<Map<string, string>>;
  /** Remembers which alerts one digest message lists, so it can be re-rendered when one of them changes. */
  saveDigest(channel: string, ts: string, fingerprints: readonly string[]): Promise<void>;
  getDigest(channel: string, ts: string): Promise<string[] | undefined>;
  /**
   * Opens an incident and queues its notifications in one transaction; refused (false) when another
   * incident is open: there is one stakeholder thread at a time.
   */
  openIncident(incident: Incident, outbox: readonly OutboxInput[]): Promise<boolean>;
  /** The open incident, if any. */
  currentIncident(): Promise<Incident | undefined>;
  getIncident(id: string): Promise<Incident | undefined>;
  /** Saves a changed incident with the notifications it causes, in one transaction. */
  updateIncident(incident: Incident, outbox: readonly OutboxInput[]): Promise<void>;
  /** Reads an incident, lets `decide` change it, saves it with its notifications: one transaction holding it. */
  changeIncident(id: string, decide: (incident: Incident) => { incident: Incident; outbox: readonly OutboxInput[] } | undefined): Promise<Incident | undefined>;
  /** Queues notifications on their own (an update line, a run summary). */
  enqueue(outbox: readonly OutboxInput[]): Promise<void>;
  /** The ts of an incident's parent message, once posted. */
  incidentThread(id: string): Promise<string | undefined>;
  setIncidentThread(id: string, ts: string): Promise<void>;
  /** A random 32-byte key kept for this installation under `name`, created on first use (the fingerprint key). */
  installationKey(name: string): Promise<Buffer>;
  close(): Promise<void>;
}
