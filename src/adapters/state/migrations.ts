import { type Kysely, type Migration, PostgresAdapter, sql } from 'kysely';

// Auto-increment is spelled differently per dialect: a sequence (bigserial) on PostgreSQL, AUTOINCREMENT on SQLite.
function isPostgres(db: Kysely<unknown>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

// Append-only: a released migration is never edited, only followed by a new one.
export const migrations: Record<string, Migration> = {
  '0001_audit_log': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('audit_log')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('command', 'text', (c) => c.notNull())
        .addColumn('text', 'text', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('detail', 'text', (c) => c.notNull().defaultTo(sql`'{}'`))
        .addColumn('prev_hash', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_log_at').on('audit_log').column('at').execute();
    },
  },
  '0002_backup_catalog': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('backup_catalog')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('finished_at', 'text', (c) => c.notNull())
        .addColumn('size_bytes', 'bigint', (c) => c.notNull())
        .addColumn('verified', 'integer', (c) => c.notNull())
        .addColumn('manifest', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('backup_catalog_kind_finished').on('backup_catalog').columns(['kind', 'finished_at']).execute();
    },
  },
  '0003_schedule_slots': {
    async up(db: Kysely<unknown>) {
      // One row per scheduled slot: the replica whose insert wins runs it, every other replica skips it.
      await db.schema
        .createTable('schedule_slots')
        .addColumn('slot', 'text', (c) => c.primaryKey())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('claimed_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0004_gates': {
    async up(db: Kysely<unknown>) {
      // The gate as JSON plus the columns its compare-and-set and lookups need.
      await db.schema
        .createTable('gates')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('gate', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0005_runs': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('runs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('procedure', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('run', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('runs_status').on('runs').columns(['status', 'started_at']).execute();
    },
  },
  '0006_alerts_and_outbox': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('alerts')
        .addColumn('fingerprint', 'text', (c) => c.primaryKey())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('severity', 'text', (c) => c.notNull())
        .addColumn('last_fired_at', 'text', (c) => c.notNull())
        .addColumn('alert', 'text', (c) => c.notNull())
        .addColumn('record', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('alerts_state').on('alerts').columns(['state', 'last_fired_at']).execute();
      // The durable outbox: a row per notification, delivered in id order per order_key.
      await db.schema
        .createTable('outbox')
        .addColumn('id', isPostgres(db) ? 'bigserial' : 'integer', (c) => (isPostgres(db) ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('order_key', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('delivered_at', 'text')
        .addColumn('last_error', 'text')
        .addColumn('claimed_by', 'text')
        .addColumn('claimed_until', 'text')
        .execute();
      await db.schema.createIndex('outbox_due').on('outbox').columns(['status', 'target', 'next_attempt_at']).execute();
      await db.schema.createIndex('outbox_order').on('outbox').columns(['order_key', 'status', 'id']).execute();
      await db.schema
        .createTable('alert_messages')
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('ts', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('alert_messages_pk', ['fingerprint', 'channel'])
        .execute();
      await db.schema
        .createTable('digests')
        .addColumn('ts', 'text', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('fingerprints', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('digests_pk', ['channel', 'ts'])
        .execute();
    },
  },
  '0007_incidents': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('incidents')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('declared_at', 'text', (c) => c.notNull())
        .addColumn('incident', 'text', (c) => c.notNull())
        .addColumn('thread_ts', 'text')
        .execute();
    },
  },
  '0008_leases': {
    async up(db: Kysely<unknown>) {
      // A named lease (the SQLite scheduler's): who holds it, and until when unless renewed.
      await db.schema
        .createTable('leases')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0009_state-health-secrets_health_probe': {
    async up(db: Kysely<unknown>) {
      // One row per bot process, rewritten by its health monitor: a probe that proves the store still commits.
      await db.schema
        .createTable('state_health')
        .addColumn('owner', 'text', (c) => c.primaryKey())
        .addColumn('checked_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0009_crash_replay_roles_seen_requests': {
    async up(db: Kysely<unknown>) {
      // Signed requests already taken in (a Slack signature, a Slack event id, a PagerDuty event id): a replay
      // within the signature's validity window does nothing, on whichever replica it lands.
      await db.schema
        .createTable('seen_requests')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('seen_requests_expires_at').on('seen_requests').column('expires_at').execute();
    },
  },
  '0009_outbox_fairness': {
    async up(db: Kysely<unknown>) {
      // Delivery by priority (notices, new alerts, changes, storm digests), then oldest first: claims read this index.
      await db.schema.alterTable('outbox').addColumn('priority', 'integer', (c) => c.notNull().defaultTo(2)).execute();
      await db.schema.createIndex('outbox_claim').on('outbox').columns(['target', 'status', 'priority', 'id']).execute();
      // An Alertmanager group pages as one incident: its alerts are found by group.
      await db.schema.alterTable('alerts').addColumn('alert_group', 'text').execute();
      await db.schema.createIndex('alerts_group').on('alerts').columns(['alert_group', 'state']).execute();
      // What PagerDuty was last told per dedup_key: a resolve for an incident never triggered is not sent.
      await db.schema
        .createTable('pager_keys')
        .addColumn('dedup_key', 'text', (c) => c.primaryKey())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0010_encryption_installation_keys': {
    async up(db: Kysely<unknown>) {
      // Random keys made once per installation (the fingerprint key): created by the first process to ask.
      await db.schema
        .createTable('installation_keys')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
};
