import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalBackupRepository } from '../../../src/adapters/repository/local-backup-repository.ts';
import { openStateStore } from '../../../src/adapters/state/kysely-store.ts';
import type { DatabaseCopy, DatabaseDumper } from '../../../src/ports/dms.ts';
import type { StateStore } from '../../../src/ports/state-store.ts';
import { backupDatabase } from '../../../src/procedures/backup-db.ts';

// A dumper that writes a fixed file and reports the given check results.
function dumperReporting(copy: Omit<DatabaseCopy, 'engine' | 'tools'>): DatabaseDumper {
  return {
    extension: 'sqlite',
    async dumpTo(file) {
      await writeFile(file, 'a database copy');
      return { engine: 'sqlite', tools: { sqlite: 'test' }, ...copy };
    },
  };
}

describe('backupDatabase', () => {
  let dir: string;
  let store: StateStore;
  const backUp = (dumper: DatabaseDumper) =>
    backupDatabase({ repository: new LocalBackupRepository(path.join(dir, 'repo')), store, timeoutMs: 5_000, now: () => new Date(), botVersion: 'test', dumper, sourceLocation: 'sqlite:test' });

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dr-backup-db-'));
    store = await openStateStore(path.join(dir, 'state.db'));
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('records the counts the dumper took in its snapshot', async () => {
    const manifest = await backUp(dumperReporting({ integrity: 'ok', counts: { documents: 3, users: 2, tenants: 1 } }));
    expect(manifest.verified).toBe(true);
    expect(manifest.verification.counts).toEqual({ documents: 3, users: 2, tenants: 1 });
    expect(manifest.verification.counts_unavailable).toBeUndefined();
  });

  it('records why there are no counts, and still keeps the checked backup', async () => {
    const manifest = await backUp(dumperReporting({ integrity: 'ok', counts: undefined, countsUnavailable: 'counting failed: canceling statement due to lock timeout' }));
    expect(manifest.verified).toBe(true);
    expect(manifest.verification.counts).toBeUndefined();
    expect(manifest.verification.counts_unavailable).toBe('counting failed: canceling statement due to lock timeout');
    expect((await store.listCatalog()).map((entry) => entry.id)).toEqual([manifest.id]);
  });
});
