import { type Kysely, type Migration, sql } from 'kysely';

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
};
