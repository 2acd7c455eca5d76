import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LocalBackupRepository } from '../../../src/adapters/repository/local-backup-repository.ts';
import type { DocumentSource } from '../../../src/ports/dms.ts';
import { backupStorage } from '../../../src/procedures/backup-storage.ts';
import { MemoryDms } from '../../fakes/document-storage.ts';
import { useTempStateStore } from '../../helpers/temp-store.ts';

// Storage on a remote store that stops answering: the listing works, reading the second file never returns.
function stallingSource(dms: MemoryDms, stallOn: string): DocumentSource & { opened: string[] } {
  const opened: string[] = [];
  return {
    location: 'memory://uploads',
    opened,
    async *list() {
      yield [...dms.files].map(([file, bytes]) => ({ path: file, sizeBytes: bytes.length, mtimeMs: 1 }));
    },
    async open(file) {
      opened.push(file);
      if (file === stallOn) return new Promise<never>(() => {});
      return Readable.from([dms.files.get(file)!]);
    },
  };
}

describe('backupStorage', () => {
  const temp = useTempStateStore('dr-backup-storage');

  it('takes the previous snapshot’s documents from memory when it took that snapshot itself, and from its manifest otherwise', async () => {
    const dms = new MemoryDms();
    for (let i = 0; i < 20; i += 1) dms.add(i, `tenant-1/doc-${i}.pdf`, `content ${i}`);
    const source = stallingSource(dms, 'never');
    const repository = new LocalBackupRepository(path.join(temp.dir, 'repo'));
    const manifestsRead: string[] = [];
    const counting = Object.assign(Object.create(repository) as LocalBackupRepository, {
      readManifest: (id: string) => {
        manifestsRead.push(id);
        return repository.readManifest(id);
      },
    });
    const snapshot = () => backupStorage({ source, checksums: dms, repository: counting, store: temp.store, timeoutMs: 10_000, now: () => new Date(), botVersion: 'test' });
    const first = await snapshot();
    const second = await snapshot();
    expect(manifestsRead).toEqual([]);
    // Unchanged files were recognised either way: nothing read again.
    expect(second.verification.copied).toMatchObject({ files: 0, reused: 20 });
    // The newest verified snapshot is no longer the one in memory (found damaged): its manifest is read.
    await temp.store.recordBackup({ ...second, documents: undefined, verified: false });
    const third = await snapshot();
    expect(manifestsRead).toEqual([first.id]);
    expect(third.verification.copied).toMatchObject({ files: 0, reused: 20 });
  });

  it('stops a snapshot that hangs at its deadline, with the reason, and writes no manifest', async () => {
    const dms = new MemoryDms();
    for (let i = 0; i < 5; i += 1) dms.add(i, `tenant-1/doc-${i}.pdf`, `content ${i}`);
    const source = stallingSource(dms, 'tenant-1/doc-1.pdf');
    const repository = new LocalBackupRepository(path.join(temp.dir, 'repo'));
    await expect(
      backupStorage({ source, checksums: dms, repository, store: temp.store, timeoutMs: 300, concurrency: 1, now: () => new Date(), botVersion: 'test' }),
    ).rejects.toMatchObject({ code: 'BACKUP_FAILED', userMessage: 'the document snapshot did not finish within 300 ms and was stopped' });
    // The copies queued behind the stalled one never start.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(source.opened).toEqual(['tenant-1/doc-0.pdf', 'tenant-1/doc-1.pdf']);
    expect(await readdir(path.join(temp.dir, 'repo', 'manifests')).catch(() => [])).toEqual([]);
    expect(await temp.store.listCatalog()).toEqual([]);
  });
});
