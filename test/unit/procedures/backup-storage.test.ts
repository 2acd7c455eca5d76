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
