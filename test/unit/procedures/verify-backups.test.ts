import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LocalBackupRepository } from '../../../src/adapters/repository/local-backup-repository.ts';
import { DrError } from '../../../src/domain/errors.ts';
import type { DocumentSource } from '../../../src/ports/dms.ts';
import { backupStorage } from '../../../src/procedures/backup-storage.ts';
import { rebuildCatalog, verifyStoredBackups } from '../../../src/procedures/verify-backups.ts';
import { verifyChecksums } from '../../../src/procedures/verify-checksums.ts';
import { MemoryDms } from '../../fakes/document-storage.ts';
import { useTempStateStore } from '../../helpers/temp-store.ts';

function sourceOf(dms: MemoryDms): DocumentSource {
  return {
    location: 'memory://uploads',
    async *list() {
      yield [...dms.files].map(([file, bytes]) => ({ path: file, sizeBytes: bytes.length, mtimeMs: 1 }));
    },
    async open(file) {
      return Readable.from([dms.files.get(file)!]);
    },
  };
}

const storeGone = () => new DrError('STORE_UNAVAILABLE', 'The documents bucket "alphha-docs" refused the credentials (s3://alphha-docs; GetObject: InvalidAccessKeyId, HTTP 403).');

describe('verifyChecksums', () => {
  it('names a deleted document missing, and stops at a store-level failure with that one error', async () => {
    const dms = new MemoryDms();
    for (let i = 0; i < 30; i += 1) dms.add(i, `tenant-1/doc-${i}.pdf`, `content ${i}`);
    dms.files.delete('tenant-1/doc-3.pdf');
    const report = await verifyChecksums({ checksums: dms, hasher: dms, concurrency: 4 });
    expect(report.problems).toEqual([expect.objectContaining({ id: 3, path: 'tenant-1/doc-3.pdf', actual: 'missing' })]);

    let asked = 0;
    const refusing = { hash: async () => { asked += 1; throw storeGone(); }, close: async () => {} };
    await expect(verifyChecksums({ checksums: dms, hasher: refusing, concurrency: 4 })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', userMessage: expect.stringContaining('documents bucket "alphha-docs"') });
    // The documents in flight when it failed, and no more.
    expect(asked).toBeLessThanOrEqual(4);
  });
});

describe('verifyStoredBackups and rebuildCatalog', () => {
  const temp = useTempStateStore('dr-verify-backups');

  it('reports a backup whose manifest is gone instead of crashing, and rebuild drops its row', async () => {
    const dms = new MemoryDms();
    for (let i = 0; i < 3; i += 1) dms.add(i, `tenant-1/doc-${i}.pdf`, `content ${i}`);
    const root = path.join(temp.dir, 'repo');
    const repository = new LocalBackupRepository(root);
    const deps = { source: sourceOf(dms), checksums: dms, repository, store: temp.store, timeoutMs: 10_000, now: () => new Date(), botVersion: 'test' };
    const gone = await backupStorage(deps);
    const kept = await backupStorage(deps);
    await rm(path.join(root, 'manifests', `${gone.id}.json`));

    const check = await verifyStoredBackups({ repository, store: temp.store }, 'storage');
    expect(check.damage).toEqual([{ backupId: gone.id, file: `manifests/${gone.id}.json`, problem: expect.stringContaining('missing from the repository') }]);
    expect((await temp.store.listCatalog()).map((m) => [m.id, m.verified])).toEqual(expect.arrayContaining([[gone.id, false], [kept.id, true]]));

    const rebuilt = await rebuildCatalog({ repository, store: temp.store }, new AbortController().signal);
    expect(rebuilt).toEqual({ recorded: 1, dropped: [gone.id] });
    expect((await temp.store.listCatalog()).map((m) => m.id)).toEqual([kept.id]);
  });

  it('stops at a store-level failure without marking any backup damaged', async () => {
    const dms = new MemoryDms();
    dms.add(1, 'tenant-1/doc-1.pdf', 'content 1');
    const root = path.join(temp.dir, 'repo');
    const real = new LocalBackupRepository(root);
    const snapshot = await backupStorage({ source: sourceOf(dms), checksums: dms, repository: real, store: temp.store, timeoutMs: 10_000, now: () => new Date(), botVersion: 'test' });
    const refusing = Object.assign(Object.create(real) as LocalBackupRepository, { hashObject: async () => Promise.reject(storeGone()) });
    await expect(verifyStoredBackups({ repository: refusing, store: temp.store })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect((await temp.store.listCatalog()).find((m) => m.id === snapshot.id)?.verified).toBe(true);
  });
});
