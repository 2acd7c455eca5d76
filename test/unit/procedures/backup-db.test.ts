import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalBackupRepository } from '../../../src/adapters/repository/local-backup-repository.ts';
import type { ProgressUpdate } from '../../../src/commands/types.ts';
import type { DatabaseCopy, DatabaseDumper } from '../../../src/ports/dms.ts';
import { backupDatabase } from '../../../src/procedures/backup-db.ts';
import { useTempStateStore } from '../../helpers/temp-store.ts';

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
  const temp = useTempStateStore('dr-backup-db');
  const backUp = (dumper: DatabaseDumper, progress?: (update: ProgressUpdate) => void) =>
    backupDatabase({ repository: new LocalBackupRepository(path.join(temp.dir, 'repo')), store: temp.store, timeoutMs: 5_000, now: () => new Date(), botVersion: 'test', dumper, sourceLocation: 'sqlite:test', ...(progress ? { progress } : {}) });


  it('shows pg_dump’s bytes against the previous dump’s size until this one outgrows it', async () => {
    const streaming: DatabaseDumper = {
      extension: 'dump',
      async dumpTo(file, _signal, progress) {
        await writeFile(file, 'x'.repeat(1500));
        for (const bytesDone of [500, 1000, 1500]) progress?.({ bytesDone });
        progress?.({ bytesDone: 0, phase: 'pg_restore --list and read-back of the dump' });
        return { engine: 'postgres', tools: {}, integrity: 'ok', counts: undefined, countsUnavailable: 'test' };
      },
    };
    const first: ProgressUpdate[] = [];
    await backUp(streaming, (u) => first.push(u));
    // No earlier dump: bytes only.
    expect(first.filter((u) => u.step === 'db backup').map((u) => [u.bytesDone, u.bytesTotal])).toEqual([[0, undefined], [500, undefined], [1000, undefined], [1500, undefined]]);
    const second: ProgressUpdate[] = [];
    await backUp(streaming, (u) => second.push(u));
    expect(second.filter((u) => u.step === 'db backup').map((u) => [u.bytesDone, u.bytesTotal])).toEqual([[0, undefined], [500, 1500], [1000, 1500], [1500, undefined]]);
    expect(second.map((u) => u.step)).toContain('db backup: pg_restore --list and read-back of the dump');
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
    expect((await temp.store.listCatalog()).map((entry) => entry.id)).toEqual([manifest.id]);
  });
});
