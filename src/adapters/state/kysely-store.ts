import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { CompiledQuery, Kysely, Migrator, PostgresDialect, SqliteDialect, SqliteDriver, sql, type DatabaseConnection, type Driver, type ExpressionBuilder, type Generated, type LogEvent } from 'kysely';
import pg from 'pg';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import path from 'node:path';
import { auditHash, GENESIS_HASH, type AuditEntry, type AuditEntryInput, type AuditSource } from '../../domain/audit.ts';
import type { BackupManifest } from '../../backup/manifest.ts';
import type { BackupKind } from '../../ports/backup-repository.ts';
import type { OutboxTargetHealth, PagerKeyState, StateStore } from '../../ports/state-store.ts';
import type { Gate } from '../../domain/gate.ts';
import type { Run, RunStatus } from '../../domain/run.ts';
import type { Incident } from '../../domain/incident.ts';
import { defaultPriority, OUTBOX_PRIORITY, type AlertRecord, type AlertSeverity, type AlertState, type OutboxInput, type OutboxMessage, type OutboxPriority, type OutboxTarget } from '../../domain/alert.ts';
import { migrations } from './migrations.ts';
import { DrError, errorText } from '../../domain/errors.ts';

interface AuditRow {
  id: number;
  at: string;
  source: string;
  actor: string;
  channel: string;
  command: string;
  text: string;
  outcome: string;
  detail: Generated<string>;
  prev_hash: string;
  hash: string;
}

interface CatalogRow {
  id: string;
  kind: string;
  started_at: string;
  finished_at: string;
  size_bytes: number | string;
  verified: number;
  manifest: string;
}

interface SlotRow {
  slot: string;
  owner: string;
  claimed_at: string;
}

interface GateRow {
  id: string;
  state: string;
  version: number;
  created_at: string;
  gate: string;
}

interface RunRow {
  id: string;
  procedure: string;
  status: string;
  started_at: string;
  run: string;
}

interface AlertRow {
  fingerprint: string;
  state: string;
  severity: string;
  last_fired_at: string;
  alert: string;
}

interface OutboxRow {
  id: Generated<number>;
  target: string;
  order_key: string;
  payload: string;
  status: string;
  attempts: number;
  next_attempt_at: string;
  created_at: string;
  delivered_at: string | null;
  last_error: string | null;
  claimed_by: string | null;
  claimed_until: string | null;
  priority: Generated<number>;
}

interface DigestRow {
  ts: string;
  channel: string;
  fingerprints: string;
}

interface Tables {
  audit_log: AuditRow;
  backup_catalog: CatalogRow;
  schedule_slots: SlotRow;
  gates: GateRow;
  runs: RunRow;
  alerts: AlertRow & { record: string; alert_group: string | null };
  outbox: OutboxRow;
  digests: DigestRow;
  alert_messages: { fingerprint: string; channel: string; ts: string };
  incidents: { id: string; state: string; declared_at: string; incident: string; thread_ts: string | null };
  leases: { name: string; holder: string; expires_at: string };
  state_health: { owner: string; checked_at: string };
  seen_requests: { key: string; expires_at: string };
  pager_keys: { dedup_key: string; state: string; updated_at: string };
  installation_keys: { name: string; key: string; created_at: string };
}

// A new outbox message's next attempt: earlier than any clock, so it is due at once.
const DUE_AT_ONCE = '1970-01-01T00:00:00.000Z';

// Any constant works; it only has to be the same for every replica sharing the database.
const INCIDENT_LOCK_KEY = 0x64725f69;
const AUDIT_LOCK_KEY = 0x64725f61;

// Expired seen-request keys are deleted this often (they already count as unseen before that).
const SEEN_PRUNE_EVERY_MS = 60_000;

// Claimed schedule slots are kept this long (a record of which replica ran what), then deleted.
const SLOT_KEEP_MS = 90 * 24 * 3_600_000;

/** Opens the state store named by DR_STATE (a SQLite path or a postgres:// URL) and brings its schema up to date. */
export async function openStateStore(location: string, now: () => Date = () => new Date()): Promise<StateStore> {
  const kind = /^postgres(ql)?:\/\//.test(location) ? 'postgres' : 'sqlite';
  const faults = new FaultListeners();
  const sqlite = kind === 'sqlite' ? openSqlite(location) : undefined;
  const db = new Kysely<Tables>({
    dialect: sqlite ? new ImmediateSqliteDialect(sqlite.database) : postgresDialect(location),
    // Every failed query is looked at: one that means the store itself is broken wakes the health monitor.
    log: (event: LogEvent) => {
      if (event.level === 'error') faults.report(event.error);
    },
  });
  try {
    await migrate(db);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return new KyselyStateStore(db, kind, now, faults, sqlite);
}

/** The SQLite file as it was opened: its path and identity, so a file deleted or replaced under the bot is noticed. */
interface OpenedSqlite {
  file: string;
  database: Database.Database;
  dev: number;
  ino: number;
}

function openSqlite(file: string): OpenedSqlite {
  // The bot's own folder and file hold audit rows and alert state: nobody else reads them (0700 / 0600).
  const dir = path.dirname(file);
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }
  if (!existsSync(file)) {
    closeSync(openSync(file, 'wx', 0o600));
    chmodSync(file, 0o600);
  }
  const database = new Database(file, { fileMustExist: true });
  // Taken right after opening: the inode the connection holds (SQLite gives -wal and -shm the file's mode).
  const { dev, ino } = statSync(file);
  database.pragma('journal_mode = WAL');
  database.pragma('busy_timeout = 5000');
  database.pragma('synchronous = NORMAL');
  return { file, database, dev, ino };
}

/**
 * SQLite transactions that start with BEGIN IMMEDIATE: a deferred one that reads first and writes later
 * gets SQLITE_BUSY at once when another process holds the write lock (busy_timeout is not consulted for
 * that upgrade). Taking the write lock up front makes a locked store wait, as busy_timeout says.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly database: Database.Database) {
    super({ database });
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver({ database: this.database });
  }
}

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

function postgresDialect(url: string): PostgresDialect {
  // Timeouts bound every statement and lock wait: a stuck server makes a command fail, not hang the bot.
  const pool = new pg.Pool({ connectionString: url, max: 5, connectionTimeoutMillis: 5_000, statement_timeout: 10_000, lock_timeout: 5_000, query_timeout: 15_000 });
  // A client losing its server must not crash the bot, idle (the pool's error) or checked out (the client's
  // own, which pg-pool leaves unhandled while a transaction holds it); the query in flight reports it.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return new PostgresDialect({ pool });
}

// SQLite result codes (and their extended forms) that mean the file itself is damaged, gone or unwritable.
const SQLITE_FAULT = /^SQLITE_(CORRUPT|NOTADB|IOERR|READONLY|FULL|CANTOPEN)/;
// PostgreSQL: the connection or the database went away (admin shutdown, crash, dropped database, refused).
const POSTGRES_FAULT = /^(57P0[1-3]|08\d\d\d|3D000|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE)$/;

/** Whether a failed query says the store itself is broken (rather than a bad statement or a lost race). */
export function isStoreFault(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && (SQLITE_FAULT.test(code) || POSTGRES_FAULT.test(code))) return true;
  return error instanceof Error && /Connection terminated|connection timeout|database .* does not exist/i.test(error.message);
}

class FaultListeners {
  private readonly listeners: Array<(reason: string) => void> = [];

  add(listener: (reason: string) => void): void {
    this.listeners.push(listener);
  }

  report(error: unknown): void {
    if (!isStoreFault(error)) return;
    const reason = errorText(error);
    for (const listener of this.listeners) listener(reason);
  }
}

async function migrate(db: Kysely<Tables>): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'dr_migrations',
    migrationLockTableName: 'dr_migrations_lock',
  });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error;
}

class KyselyStateStore implements StateStore {
  constructor(
    private readonly db: Kysely<Tables>,
    readonly kind: 'sqlite' | 'postgres',
    private readonly now: () => Date,
    private readonly faults: FaultListeners,
    private readonly sqlite: OpenedSqlite | undefined,
  ) {}

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  onFault(listener: (reason: string) => void): void {
    this.faults.add(listener);
  }

  async checkHealth(options: { owner: string; full?: boolean }): Promise<void> {
    if (this.sqlite) checkSqliteFile(this.sqlite, options.full ?? false);
    // A real commit: a locked, read-only or full store fails here, not on the next command.
    const checkedAt = this.now().toISOString();
    await this.db
      .insertInto('state_health')
      .values({ owner: options.owner, checked_at: checkedAt })
      .onConflict((oc) => oc.column('owner').doUpdateSet({ checked_at: checkedAt }))
      .execute();
  }

  // Appends arriving together are written in one transaction (group commit): a burst of commands costs
  // one lock, one read of the chain's head and one commit, and the chain stays strictly ordered.
  private pending: Array<{ input: AuditEntryInput; resolve: (e: AuditEntry) => void; reject: (e: unknown) => void }> = [];
  private flushing: Promise<void> = Promise.resolve();

  appendAudit(input: AuditEntryInput): Promise<AuditEntry> {
    return new Promise((resolve, reject) => {
      this.pending.push({ input, resolve, reject });
      if (this.pending.length === 1) this.flushing = this.flushing.then(() => this.flushAudit());
    });
  }

  private async flushAudit(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    try {
      const entries = await this.db.transaction().execute(async (trx) => {
        if (this.kind === 'postgres') await sql`select pg_advisory_xact_lock(${AUDIT_LOCK_KEY})`.execute(trx);
        const last = await trx.selectFrom('audit_log').select(['id', 'hash']).orderBy('id', 'desc').limit(1).executeTakeFirst();
        let id = last?.id ?? 0;
        let prevHash = last?.hash ?? GENESIS_HASH;
        const at = this.now().toISOString();
        const written = batch.map(({ input }) => {
          id += 1;
          const unhashed = { id, at, source: input.source, actor: input.actor, channel: input.channel, command: input.command, text: input.text, outcome: input.outcome, detail: input.detail ?? {} };
          const entry: AuditEntry = { ...unhashed, prevHash, hash: auditHash(prevHash, unhashed) };
          prevHash = entry.hash;
          return entry;
        });
        await trx
          .insertInto('audit_log')
          .values(written.map((e) => ({ id: e.id, at: e.at, source: e.source, actor: e.actor, channel: e.channel, command: e.command, text: e.text, outcome: e.outcome, detail: JSON.stringify(e.detail), prev_hash: e.prevHash, hash: e.hash })))
          .execute();
        return written;
      });
      batch.forEach((item, index) => item.resolve(entries[index]!));
    } catch (error) {
      for (const item of batch) item.reject(error);
    }
  }

  async listAudit(options: { afterId?: number; limit?: number; order?: 'asc' | 'desc' } = {}): Promise<AuditEntry[]> {
    const rows = await this.db
      .selectFrom('audit_log')
      .selectAll()
      .where('id', '>', options.afterId ?? 0)
      .orderBy('id', options.order ?? 'asc')
      .limit(options.limit ?? 1_000_000)
      .execute();
    return rows.map((row) => ({
      id: Number(row.id),
      at: row.at,
      source: row.source as AuditSource,
      actor: row.actor,
      channel: row.channel,
      command: row.command,
      text: row.text,
      outcome: row.outcome,
      detail: parseDetail(row.detail),
      prevHash: row.prev_hash,
      hash: row.hash,
    }));
  }

  async recordBackup(manifest: BackupManifest): Promise<void> {
    const row = {
      id: manifest.id,
      kind: manifest.kind,
      started_at: manifest.started_at,
      finished_at: manifest.finished_at,
      size_bytes: manifest.size_bytes,
      verified: manifest.verified ? 1 : 0,
      manifest: JSON.stringify(manifest),
    };
    await this.db
      .insertInto('backup_catalog')
      .values(row)
      .onConflict((oc) => oc.column('id').doUpdateSet({ ...row, id: undefined }))
      .execute();
  }

  async claimSlot(slot: string, owner: string): Promise<boolean> {
    const now = this.now();
    const result = await this.db
      .insertInto('schedule_slots')
      .values({ slot, owner, claimed_at: now.toISOString() })
      .onConflict((oc) => oc.column('slot').doNothing())
      .executeTakeFirst();
    const claimed = Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
    // Slots long past can never be claimed again (their keys hold their time): the table stays small.
    if (claimed) await this.db.deleteFrom('schedule_slots').where('claimed_at', '<', new Date(now.getTime() - SLOT_KEEP_MS).toISOString()).execute();
    return claimed;
  }

  // Requests arriving together are recorded in one statement (as audit rows are group-committed): a burst of
  // Slack commands waits for one write, not fifty, before its acks.
  private seenQueue: Array<{ keys: readonly string[]; keepMs: number; resolve: (fresh: boolean[]) => void; reject: (error: unknown) => void }> = [];
  private seenFlushing: Promise<void> = Promise.resolve();
  private seenPrunedAt = Number.NEGATIVE_INFINITY;

  rememberRequests(keys: readonly string[], keepMs: number): Promise<boolean[]> {
    if (keys.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.seenQueue.push({ keys, keepMs, resolve, reject });
      if (this.seenQueue.length === 1) this.seenFlushing = this.seenFlushing.then(() => this.flushSeen());
    });
  }

  private async flushSeen(): Promise<void> {
    const batch = this.seenQueue;
    this.seenQueue = [];
    try {
      const now = this.now();
      const at = now.toISOString();
      // A key asked for twice in one batch (a replay racing its original) is one row, and new for the first asker only.
      const rows = new Map<string, string>();
      for (const item of batch) for (const key of item.keys) if (!rows.has(key)) rows.set(key, new Date(now.getTime() + item.keepMs).toISOString());
      const fresh = new Set<string>();
      const all = [...rows];
      for (let start = 0; start < all.length; start += 500) {
        // The keys inserted, or taken over from an expired row, are the new ones; a key still kept (by another
        // replica too) is not.
        // Plain SQL (the same on both dialects): building this through the query builder cost more than running it.
        const values = sql.join(all.slice(start, start + 500).map(([key, expires]) => sql`(${key}, ${expires})`));
        const inserted = await sql<{ key: string }>`insert into seen_requests (key, expires_at) values ${values}
          on conflict (key) do update set expires_at = excluded.expires_at where seen_requests.expires_at <= ${at}
          returning key`.execute(this.db);
        for (const row of inserted.rows) fresh.add(row.key);
      }
      // Housekeeping, not on every request: expired keys are deleted at most once a minute. A failure only
      // leaves them for the next time (they already count as unseen).
      if (now.getTime() - this.seenPrunedAt >= SEEN_PRUNE_EVERY_MS) {
        this.seenPrunedAt = now.getTime();
        await this.db.deleteFrom('seen_requests').where('expires_at', '<=', at).execute().catch(() => {});
      }
      for (const item of batch) item.resolve(item.keys.map((key) => fresh.delete(key)));
    } catch (error) {
      for (const item of batch) item.reject(error);
    }
  }

  async forgetRequest(key: string): Promise<void> {
    await this.db.deleteFrom('seen_requests').where('key', '=', key).execute();
  }

  async acquireLease(name: string, owner: string, options: { now: string; until: string; ownerAlive?: (owner: string) => boolean | undefined }): Promise<boolean> {
    const current = await this.db.selectFrom('leases').select('holder').where('name', '=', name).executeTakeFirst();
    // A holder known to be dead frees the lease now, not when it expires.
    const deadHolder = current && current.holder !== owner && options.ownerAlive?.(current.holder) === false ? current.holder : undefined;
    // One statement, so two processes racing for a free lease cannot both win it.
    const result = await this.db
      .insertInto('leases')
      .values({ name, holder: owner, expires_at: options.until })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet({ holder: owner, expires_at: options.until })
          .where((eb) => eb.or([eb('leases.holder', '=', owner), eb('leases.expires_at', '<', options.now), ...(deadHolder ? [eb('leases.holder', '=', deadHolder)] : [])])),
      )
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    await this.db.deleteFrom('leases').where('name', '=', name).where('holder', '=', owner).execute();
  }

  async leaseHolder(name: string, now: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('leases').select('holder').where('name', '=', name).where('expires_at', '>=', now).executeTakeFirst();
    return row?.holder;
  }

  async forgetBackup(id: string): Promise<void> {
    await this.db.deleteFrom('backup_catalog').where('id', '=', id).execute();
  }

  async listCatalog(options: { kind?: BackupKind; limit?: number } = {}): Promise<BackupManifest[]> {
    let query = this.db.selectFrom('backup_catalog').select('manifest').orderBy('finished_at', 'desc').limit(options.limit ?? 10_000);
    if (options.kind) query = query.where('kind', '=', options.kind);
    return (await query.execute()).map((row) => JSON.parse(row.manifest) as BackupManifest);
  }

  async createGate(gate: Gate): Promise<void> {
    await this.db.insertInto('gates').values({ id: gate.id, state: gate.state, version: gate.version, created_at: gate.createdAt, gate: JSON.stringify(gate) }).execute();
  }

  async getGate(id: string): Promise<Gate | undefined> {
    const row = await this.db.selectFrom('gates').select('gate').where('id', '=', id).executeTakeFirst();
    return row ? (JSON.parse(row.gate) as Gate) : undefined;
  }

  async listOpenGates(): Promise<Gate[]> {
    const rows = await this.db.selectFrom('gates').select('gate').where('state', 'in', ['awaiting_confirmation', 'awaiting_approval']).orderBy('created_at', 'asc').execute();
    return rows.map((row) => JSON.parse(row.gate) as Gate);
  }

  async updateGate(id: string, expectedVersion: number, next: Partial<Omit<Gate, 'id' | 'version'>>): Promise<boolean> {
    // Read and conditional write in one transaction; the `where version = expected` is what makes it a CAS.
    return this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('gates').select('gate').where('id', '=', id).where('version', '=', expectedVersion).executeTakeFirst();
      if (!row) return false;
      const gate: Gate = { ...(JSON.parse(row.gate) as Gate), ...next, id, version: expectedVersion + 1 };
      const result = await trx
        .updateTable('gates')
        .set({ state: gate.state, version: gate.version, gate: JSON.stringify(gate) })
        .where('id', '=', id)
        .where('version', '=', expectedVersion)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    });
  }

  async createRun(run: Run): Promise<void> {
    await this.db.insertInto('runs').values({ id: run.id, procedure: run.procedure, status: run.status, started_at: run.startedAt, run: JSON.stringify(run) }).execute();
  }

  async updateRun(run: Run): Promise<void> {
    await this.db.updateTable('runs').set({ status: run.status, run: JSON.stringify(run) }).where('id', '=', run.id).execute();
  }

  async getRun(id: string): Promise<Run | undefined> {
    const row = await this.db.selectFrom('runs').select('run').where('id', '=', id).executeTakeFirst();
    return row ? (JSON.parse(row.run) as Run) : undefined;
  }

  async listRuns(options: { status?: RunStatus; procedure?: string; limit?: number } = {}): Promise<Run[]> {
    let query = this.db.selectFrom('runs').select('run').orderBy('started_at', 'desc').limit(options.limit ?? 100);
    if (options.status) query = query.where('status', '=', options.status);
    if (options.procedure) query = query.where('procedure', '=', options.procedure);
    return (await query.execute()).map((row) => JSON.parse(row.run) as Run);
  }

  async getAlerts(fingerprints: readonly string[]): Promise<AlertRecord[]> {
    if (fingerprints.length === 0) return [];
    const rows: Array<{ record: string }> = [];
    // Bounded IN lists: a 1,000-alert batch must not exceed SQLite's variable limit.
    for (let start = 0; start < fingerprints.length; start += 500) {
      rows.push(...(await this.db.selectFrom('alerts').select('record').where('fingerprint', 'in', fingerprints.slice(start, start + 500)).execute()));
    }
    return rows.map((row) => JSON.parse(row.record) as AlertRecord);
  }

  async listAlerts(options: { states?: readonly AlertState[]; limit?: number } = {}): Promise<AlertRecord[]> {
    let query = this.db.selectFrom('alerts').select('record').orderBy('last_fired_at', 'desc').limit(options.limit ?? 1_000);
    if (options.states) query = query.where('state', 'in', [...options.states]);
    return (await query.execute()).map((row) => JSON.parse(row.record) as AlertRecord);
  }

  async changeAlerts(
    fingerprints: readonly string[],
    decide: (existing: ReadonlyMap<string, AlertRecord>) => Array<{ record: AlertRecord; outbox: readonly OutboxInput[] }>,
  ): Promise<AlertRecord[]> {
    const now = this.now().toISOString();
    const unique = [...new Set(fingerprints)];
    return this.db.transaction().execute(async (trx) => {
      const existing = new Map<string, AlertRecord>();
      for (let start = 0; start < unique.length; start += 500) {
        let query = trx.selectFrom('alerts').select('record').where('fingerprint', 'in', unique.slice(start, start + 500));
        if (this.kind === 'postgres') query = query.forUpdate();
        for (const row of await query.execute()) {
          const record = JSON.parse(row.record) as AlertRecord;
          existing.set(record.fingerprint, record);
        }
      }
      const changes = decide(existing);
      for (let start = 0; start < changes.length; start += 200) {
        const slice = changes.slice(start, start + 200);
        const rows = slice.map(({ record }) => ({ fingerprint: record.fingerprint, state: record.state, severity: record.severity, last_fired_at: record.lastFiredAt, alert: record.alert, alert_group: record.group ?? null, record: JSON.stringify(record) }));
        await trx
          .insertInto('alerts')
          .values(rows)
          .onConflict((oc) =>
            oc.column('fingerprint').doUpdateSet((eb) => ({ state: eb.ref('excluded.state'), severity: eb.ref('excluded.severity'), last_fired_at: eb.ref('excluded.last_fired_at'), alert: eb.ref('excluded.alert'), alert_group: eb.ref('excluded.alert_group'), record: eb.ref('excluded.record') })),
          )
          .execute();
        const messages = slice.flatMap(({ outbox }) => outbox.map((m) => outboxRow(m, now)));
        if (messages.length > 0) await trx.insertInto('outbox').values(messages).execute();
      }
      return changes.map((c) => c.record);
    });
  }

  async alertMessage(fingerprint: string, channel: string): Promise<string | undefined> {
    return (await this.db.selectFrom('alert_messages').select('ts').where('fingerprint', '=', fingerprint).where('channel', '=', channel).executeTakeFirst())?.ts;
  }

  async setAlertMessage(fingerprint: string, channel: string, ts: string): Promise<void> {
    await this.db
      .insertInto('alert_messages')
      .values({ fingerprint, channel, ts })
      .onConflict((oc) => oc.columns(['fingerprint', 'channel']).doUpdateSet({ ts }))
      .execute();
  }

  async setAlertMessages(fingerprints: readonly string[], channel: string, ts: string): Promise<void> {
    const unique = [...new Set(fingerprints)];
    await this.db.transaction().execute(async (trx) => {
      for (let start = 0; start < unique.length; start += 300) {
        await trx
          .insertInto('alert_messages')
          .values(unique.slice(start, start + 300).map((fingerprint) => ({ fingerprint, channel, ts })))
          .onConflict((oc) => oc.columns(['fingerprint', 'channel']).doUpdateSet({ ts }))
          .execute();
      }
    });
  }

  async claimOutbox(
    target: OutboxTarget,
    now: string,
    options: { owner: string; leaseUntil: string; limit: number; ownerAlive?: (owner: string) => boolean | undefined; minPriority?: number },
  ): Promise<OutboxMessage[]> {
    return this.db.transaction().execute(async (trx) => {
      // Leases held by processes known to be dead are free now, not when they expire.
      const holders = await trx.selectFrom('outbox').select('claimed_by').distinct().where('status', '=', 'pending').where('target', '=', target).where('claimed_until', '>=', now).execute();
      const dead = holders.map((h) => h.claimed_by).filter((owner): owner is string => owner !== null && owner !== options.owner && options.ownerAlive?.(owner) === false);
      const free = (eb: ExpressionBuilder<Tables & { o: OutboxRow }, 'o'>) =>
        eb.or([eb('o.claimed_until', 'is', null), eb('o.claimed_until', '<', now), ...(dead.length ? [eb('o.claimed_by', 'in', dead)] : [])]);
      // The head of each order key (no earlier message of the same key is still pending), most urgent first,
      // then oldest first: a backlog of one kind never holds up a more urgent message, and every key gets a turn.
      let query = trx
        .selectFrom('outbox as o')
        .select(['o.id', 'o.claimed_by'])
        .where('o.target', '=', target)
        .where('o.status', '=', 'pending')
        .where('o.next_attempt_at', '<=', now)
        .where(free)
        .where((eb) => eb.not(eb.exists(eb.selectFrom('outbox as p').select('p.id').whereRef('p.order_key', '=', 'o.order_key').where('p.status', '=', 'pending').whereRef('p.id', '<', 'o.id'))));
      if (options.minPriority !== undefined) query = query.where('o.priority', '>=', options.minPriority);
      const candidates = await query.orderBy('o.priority').orderBy('o.id').limit(options.limit).execute();
      if (candidates.length === 0) return [];
      const retaken = new Set(candidates.filter((c) => c.claimed_by !== null).map((c) => Number(c.id)));
      const ids = candidates.map((c) => Number(c.id));
      const claimed: OutboxMessage[] = [];
      // Bounded IN lists: a storm's digest claims thousands at once, beyond SQLite's variable limit.
      for (let start = 0; start < ids.length; start += 500) {
        const chunk = ids.slice(start, start + 500);
        await trx
          .updateTable('outbox')
          .set({ claimed_by: options.owner, claimed_until: options.leaseUntil })
          .where('id', 'in', chunk)
          .where('status', '=', 'pending')
          .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now), ...(dead.length ? [eb('claimed_by', 'in', dead)] : [])]))
          .execute();
        const rows = await trx.selectFrom('outbox').selectAll().where('id', 'in', chunk).where('claimed_by', '=', options.owner).where('claimed_until', '=', options.leaseUntil).execute();
        for (const row of rows) claimed.push({ ...outboxMessage(row), ...(retaken.has(Number(row.id)) ? { retaken: true } : {}) });
      }
      return claimed.sort((a, b) => a.priority - b.priority || a.id - b.id);
    });
  }

  async settleOutbox(id: number, outcome: { status: OutboxMessage['status']; attempts: number; nextAttemptAt?: string; lastError?: string; deliveredAt?: string }, owner?: string): Promise<void> {
    let update = this.db
      .updateTable('outbox')
      .set({
        status: outcome.status,
        attempts: outcome.attempts,
        ...(outcome.nextAttemptAt ? { next_attempt_at: outcome.nextAttemptAt } : {}),
        last_error: outcome.lastError ?? null,
        delivered_at: outcome.deliveredAt ?? null,
        claimed_by: null,
        claimed_until: null,
      })
      .where('id', '=', id);
    if (owner) update = update.where('claimed_by', '=', owner);
    await update.execute();
  }

  async settleDelivered(messages: ReadonlyArray<{ id: number; attempts: number }>, deliveredAt: string, owner?: string): Promise<void> {
    const byAttempts = new Map<number, number[]>();
    for (const { id, attempts } of messages) (byAttempts.get(attempts) ?? byAttempts.set(attempts, []).get(attempts)!).push(id);
    await this.db.transaction().execute(async (trx) => {
      for (const [attempts, ids] of byAttempts) {
        for (let start = 0; start < ids.length; start += 500) {
          let update = trx
            .updateTable('outbox')
            .set({ status: 'delivered', attempts, last_error: null, delivered_at: deliveredAt, claimed_by: null, claimed_until: null })
            .where('id', 'in', ids.slice(start, start + 500));
          if (owner) update = update.where('claimed_by', '=', owner);
          await update.execute();
        }
      }
    });
  }

  async listOutbox(options: { status?: OutboxMessage['status']; target?: OutboxTarget; limit?: number } = {}): Promise<OutboxMessage[]> {
    let query = this.db.selectFrom('outbox').selectAll().orderBy('id').limit(options.limit ?? 100_000);
    if (options.status) query = query.where('status', '=', options.status);
    if (options.target) query = query.where('target', '=', options.target);
    return (await query.execute()).map(outboxMessage);
  }

  async outboxHealth(options: { deadSince?: string } = {}): Promise<OutboxTargetHealth[]> {
    const pending = await this.db
      .selectFrom('outbox')
      .select((eb) => ['target', eb.fn.countAll<number | string>().as('pending'), eb.fn.min('created_at').as('oldest')])
      .where('status', '=', 'pending')
      .groupBy('target')
      .execute();
    const triggers = await this.db
      .selectFrom('outbox')
      .select((eb) => ['target', eb.fn.min('created_at').as('oldest')])
      .where('status', '=', 'pending')
      .where('priority', '=', OUTBOX_PRIORITY.trigger)
      .groupBy('target')
      .execute();
    let deadQuery = this.db
      .selectFrom('outbox')
      .select((eb) => ['target', eb.fn.countAll<number | string>().as('dead')])
      .where('status', '=', 'dead')
      .groupBy('target');
    // A dead message keeps the retry time it was given when it died: about when it was given up on.
    if (options.deadSince) deadQuery = deadQuery.where('next_attempt_at', '>=', options.deadSince);
    const dead = await deadQuery.execute();
    const targets = new Map<string, OutboxTargetHealth>();
    const entry = (target: string) => targets.get(target) ?? targets.set(target, { target: target as OutboxTarget, pending: 0, dead: 0 }).get(target)!;
    for (const row of pending) Object.assign(entry(row.target), { pending: Number(row.pending), ...(row.oldest ? { oldestPendingAt: row.oldest } : {}) });
    for (const row of triggers) if (row.oldest) entry(row.target).oldestTriggerAt = row.oldest;
    for (const row of dead) entry(row.target).dead = Number(row.dead);
    return [...targets.values()].sort((a, b) => a.target.localeCompare(b.target));
  }

  async listGroupAlerts(group: string, options: { states?: readonly AlertState[]; severity?: AlertSeverity; limit?: number } = {}): Promise<AlertRecord[]> {
    let query = this.db.selectFrom('alerts').select('record').where('alert_group', '=', group).orderBy('last_fired_at').orderBy('fingerprint').limit(options.limit ?? 1_000);
    if (options.states) query = query.where('state', 'in', [...options.states]);
    if (options.severity) query = query.where('severity', '=', options.severity);
    return (await query.execute()).map((row) => JSON.parse(row.record) as AlertRecord);
  }

  async countGroupAlerts(group: string, options: { severity?: AlertSeverity } = {}): Promise<Partial<Record<AlertState, number>>> {
    let query = this.db
      .selectFrom('alerts')
      .select((eb) => ['state', eb.fn.countAll<number | string>().as('count')])
      .where('alert_group', '=', group)
      .groupBy('state');
    if (options.severity) query = query.where('severity', '=', options.severity);
    const rows = await query.execute();
    return Object.fromEntries(rows.map((row) => [row.state, Number(row.count)]));
  }

  async pagerKeyState(dedupKey: string): Promise<PagerKeyState | undefined> {
    return (await this.db.selectFrom('pager_keys').select('state').where('dedup_key', '=', dedupKey).executeTakeFirst())?.state as PagerKeyState | undefined;
  }

  async setPagerKeyState(dedupKey: string, state: PagerKeyState): Promise<void> {
    const updated_at = this.now().toISOString();
    await this.db
      .insertInto('pager_keys')
      .values({ dedup_key: dedupKey, state, updated_at })
      .onConflict((oc) => oc.column('dedup_key').doUpdateSet({ state, updated_at }))
      .execute();
  }

  async alertMessages(fingerprints: readonly string[], channel: string): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    const unique = [...new Set(fingerprints)];
    for (let start = 0; start < unique.length; start += 500) {
      const rows = await this.db.selectFrom('alert_messages').select(['fingerprint', 'ts']).where('channel', '=', channel).where('fingerprint', 'in', unique.slice(start, start + 500)).execute();
      for (const row of rows) found.set(row.fingerprint, row.ts);
    }
    return found;
  }

  async saveDigest(channel: string, ts: string, fingerprints: readonly string[]): Promise<void> {
    await this.db.insertInto('digests').values({ channel, ts, fingerprints: JSON.stringify(fingerprints) }).execute();
  }

  async getDigest(channel: string, ts: string): Promise<string[] | undefined> {
    const row = await this.db.selectFrom('digests').select('fingerprints').where('channel', '=', channel).where('ts', '=', ts).executeTakeFirst();
    return row ? (JSON.parse(row.fingerprints) as string[]) : undefined;
  }

  async openIncident(incident: Incident, outbox: readonly OutboxInput[]): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      // One open incident at a time; on PostgreSQL the advisory lock serializes two replicas declaring at once.
      if (this.kind === 'postgres') await sql`select pg_advisory_xact_lock(${INCIDENT_LOCK_KEY})`.execute(trx);
      const open = await trx.selectFrom('incidents').select('id').where('state', '=', 'open').executeTakeFirst();
      if (open) return false;
      await trx.insertInto('incidents').values({ id: incident.id, state: incident.state, declared_at: incident.declaredAt, incident: JSON.stringify(incident), thread_ts: null }).execute();
      await this.insertOutbox(trx, outbox);
      return true;
    });
  }

  async currentIncident(): Promise<Incident | undefined> {
    const row = await this.db.selectFrom('incidents').select('incident').where('state', '=', 'open').orderBy('declared_at', 'desc').executeTakeFirst();
    return row ? (JSON.parse(row.incident) as Incident) : undefined;
  }

  async getIncident(id: string): Promise<Incident | undefined> {
    const row = await this.db.selectFrom('incidents').select('incident').where('id', '=', id).executeTakeFirst();
    return row ? (JSON.parse(row.incident) as Incident) : undefined;
  }

  async updateIncident(incident: Incident, outbox: readonly OutboxInput[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.updateTable('incidents').set({ state: incident.state, incident: JSON.stringify(incident) }).where('id', '=', incident.id).execute();
      await this.insertOutbox(trx, outbox);
    });
  }

  async changeIncident(id: string, decide: (incident: Incident) => { incident: Incident; outbox: readonly OutboxInput[] } | undefined): Promise<Incident | undefined> {
    return this.db.transaction().execute(async (trx) => {
      let query = trx.selectFrom('incidents').select('incident').where('id', '=', id);
      if (this.kind === 'postgres') query = query.forUpdate();
      const row = await query.executeTakeFirst();
      if (!row) return undefined;
      const change = decide(JSON.parse(row.incident) as Incident);
      if (!change) return undefined;
      await trx.updateTable('incidents').set({ state: change.incident.state, incident: JSON.stringify(change.incident) }).where('id', '=', id).execute();
      await this.insertOutbox(trx, change.outbox);
      return change.incident;
    });
  }

  async enqueue(outbox: readonly OutboxInput[]): Promise<void> {
    await this.insertOutbox(this.db, outbox);
  }

  async incidentThread(id: string): Promise<string | undefined> {
    return (await this.db.selectFrom('incidents').select('thread_ts').where('id', '=', id).executeTakeFirst())?.thread_ts ?? undefined;
  }

  async setIncidentThread(id: string, ts: string): Promise<void> {
    await this.db.updateTable('incidents').set({ thread_ts: ts }).where('id', '=', id).execute();
  }

  private async insertOutbox(db: Kysely<Tables>, outbox: readonly OutboxInput[]): Promise<void> {
    if (outbox.length === 0) return;
    const createdAt = this.now().toISOString();
    await db.insertInto('outbox').values(outbox.map((m) => outboxRow(m, createdAt))).execute();
  }

  async installationKey(name: string): Promise<Buffer> {
    // Every replica offers a fresh key and keeps whichever was stored first: all of them end up with one key.
    await this.db
      .insertInto('installation_keys')
      .values({ name, key: randomBytes(32).toString('hex'), created_at: this.now().toISOString() })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const row = await this.db.selectFrom('installation_keys').select('key').where('name', '=', name).executeTakeFirstOrThrow();
    return Buffer.from(row.key, 'hex');
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}

/**
 * The file at the state path must still be the one the bot opened (a deleted or replaced file means every
 * write from now on is lost at restart), and must pass SQLite's own check as read from disk by a fresh
 * connection (the bot's connection may serve damaged pages from its cache).
 */
function checkSqliteFile(opened: OpenedSqlite, full: boolean): void {
  let now;
  try {
    now = statSync(opened.file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new DrError('STATE_UNAVAILABLE', `the state database ${opened.file} was deleted while the bot was running; what it writes now is lost at restart`);
    throw error;
  }
  if (now.dev !== opened.dev || now.ino !== opened.ino) {
    throw new DrError('STATE_UNAVAILABLE', `the state database ${opened.file} was replaced by another file while the bot was running; the bot still writes to the old one`);
  }
  let reader: Database.Database | undefined;
  try {
    reader = new Database(opened.file, { readonly: true, fileMustExist: true, timeout: 2_000 });
    const rows = reader.pragma(full ? 'integrity_check(20)' : 'quick_check(20)') as Array<Record<string, string>>;
    const problems = rows.map((row) => Object.values(row)[0]).filter((text) => text !== 'ok');
    if (problems.length > 0) throw new DrError('STATE_UNAVAILABLE', `the state database ${opened.file} is damaged (${full ? 'integrity_check' : 'quick_check'}: ${problems.slice(0, 3).join('; ')})`);
  } catch (error) {
    if (error instanceof DrError) throw error;
    throw new DrError('STATE_UNAVAILABLE', `the state database ${opened.file} cannot be checked: ${errorText(error)}`, { cause: error });
  } finally {
    reader?.close();
  }
}

// Due at once, whatever any replica's clock says: only retries are scheduled for later.
function outboxRow(message: OutboxInput, createdAt: string) {
  return { target: message.target, order_key: message.orderKey, payload: JSON.stringify(message.payload), priority: message.priority ?? defaultPriority(message.payload), status: 'pending', attempts: 0, next_attempt_at: DUE_AT_ONCE, created_at: createdAt };
}

function outboxMessage(row: { id: number | string; target: string; order_key: string; payload: string; priority: number; status: string; attempts: number; next_attempt_at: string; created_at: string; delivered_at: string | null; last_error: string | null }): OutboxMessage {
  return {
    id: Number(row.id),
    target: row.target as OutboxTarget,
    orderKey: row.order_key,
    payload: JSON.parse(row.payload) as OutboxMessage['payload'],
    priority: Number(row.priority) as OutboxPriority,
    status: row.status as OutboxMessage['status'],
    attempts: Number(row.attempts),
    nextAttemptAt: row.next_attempt_at,
    createdAt: row.created_at,
    ...(row.delivered_at ? { deliveredAt: row.delivered_at } : {}),
    ...(row.last_error ? { lastError: row.last_error } : {}),
  };
}

// A detail column edited into invalid JSON must surface as a broken chain, not as a crash of the reader.
function parseDetail(text: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { unparseable: text };
  }
}
