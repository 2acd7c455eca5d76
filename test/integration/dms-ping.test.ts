import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresDmsDatabase } from '../../src/adapters/dms/postgres-database.ts';
import { SqliteDmsDatabase } from '../../src/adapters/dms/sqlite-database.ts';
import { withDeadline } from '../../src/procedures/deadline.ts';
import { PG_ADMIN_URL, postgresAvailable } from '../helpers/pg.ts';

const hasPostgres = await postgresAvailable();

// The probe cycle's database check (db_connection_failure): connect and answer, nothing heavier.
describe('DmsDatabase.ping', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dr-ping-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('SQLite: answers for a database, and rejects a missing file or one that is not a database (where the full probe reports integrity)', async () => {
    const file = path.join(dir, 'dms.db');
    const db = new Database(file);
    db.exec('create table documents (id integer primary key); create table users (id integer primary key); create table tenants (id integer primary key)');
    db.close();
    const live = new SqliteDmsDatabase(file);
    await expect(withDeadline(2_000, (signal) => live.ping(signal))).resolves.toBeUndefined();
    await expect(withDeadline(2_000, (signal) => new SqliteDmsDatabase(path.join(dir, 'missing.db')).ping(signal))).rejects.toThrow(/cannot open .*missing\.db/);
    const garbage = path.join(dir, 'garbage.db');
    await writeFile(garbage, Buffer.alloc(8192, 0x5a));
    const damaged = new SqliteDmsDatabase(garbage);
    await expect(withDeadline(2_000, (signal) => damaged.ping(signal))).rejects.toThrow(/SQLITE_NOTADB/);
    await expect(withDeadline(2_000, (signal) => damaged.probe(signal))).resolves.toMatchObject({ integrity: expect.stringMatching(/^SQLITE_NOTADB/) });
  });

  it.skipIf(!hasPostgres)('PostgreSQL: answers SELECT 1, and rejects a server that is not there', async () => {
    await expect(withDeadline(5_000, (signal) => new PostgresDmsDatabase(PG_ADMIN_URL, 2_000).ping(signal))).resolves.toBeUndefined();
    const nowhere = new URL(PG_ADMIN_URL);
    nowhere.port = '1';
    await expect(withDeadline(5_000, (signal) => new PostgresDmsDatabase(nowhere.toString(), 2_000).ping(signal))).rejects.toThrow(/ECONNREFUSED/);
  });
});
