import { beforeEach, describe, expect, it } from 'vitest';
import type { BackupManifest } from '../../../src/backup/manifest.ts';
import type { ProgressUpdate } from '../../../src/commands/types.ts';
import { planStorageRepair, restoredFrom, writeBackDocuments } from '../../../src/procedures/restore-storage.ts';
import { verifyChecksums } from '../../../src/procedures/verify-checksums.ts';
import { MemoryDms, MemoryObjects, sha256Of } from '../../fakes/document-storage.ts';

/** A storage snapshot of the DMS as it is now, its objects stored in `objects`. */
function snapshotOf(dms: MemoryDms, objects: MemoryObjects, id = 'storage-20261101T120000Z-abcd'): BackupManifest {
  const documents = [...dms.files].map(([path, bytes]) => {
    const sha256 = objects.put(bytes.toString());
    return { path, size_bytes: bytes.length, mtime_ms: 0, sha256, checksum: 'ok' as const };
  });
  return {
    format: 1,
    id,
    kind: 'storage',
    started_at: '2026-11-01T12:00:00.000Z',
    finished_at: '2026-11-01T12:00:01.000Z',
    source: { location: dms.location },
    files: [],
    size_bytes: documents.reduce((sum, d) => sum + d.size_bytes, 0),
    tools: {},
    verified: true,
    verification: { integrity: 'ok', hashes_rechecked: true },
    documents,
  };
}

describe('restore storage: plan, then write back only what is missing or damaged', () => {
  let dms: MemoryDms;
  let objects: MemoryObjects;
  let snapshot: BackupManifest;
  const planDeps = () => ({ checksums: dms, hasher: dms, concurrency: 4 });
  const writeDeps = () => ({ repository: objects, writer: dms, concurrency: 3 });

  beforeEach(() => {
    dms = new MemoryDms();
    objects = new MemoryObjects();
    for (let id = 1; id <= 12; id += 1) dms.add(id, `tenant-${id % 3}/doc-${id}.pdf`, `content of document ${id}`);
    snapshot = snapshotOf(dms, objects);
  });

  it('plans exactly the missing and damaged documents, with the content the DMS recorded', async () => {
    dms.files.delete('tenant-1/doc-4.pdf');
    dms.files.set('tenant-2/doc-2.pdf', Buffer.from('content of document 2, tampered'));
    const plan = await planStorageRepair(planDeps(), [snapshot]);
    expect(plan).toMatchObject({ snapshotId: snapshot.id, checked: 12, unrecoverable: [], searched: [snapshot.id] });
    expect(plan.toRestore).toEqual([
      { id: 2, path: 'tenant-2/doc-2.pdf', sha256: sha256Of('content of document 2'), sizeBytes: 21, problem: 'damaged', snapshotId: snapshot.id },
      { id: 4, path: 'tenant-1/doc-4.pdf', sha256: sha256Of('content of document 4'), sizeBytes: 21, problem: 'missing', snapshotId: snapshot.id },
    ]);
  });

  it('takes the content from any snapshot document that holds it, whatever its path was', async () => {
    // The document was renamed after the snapshot: its content is still there, under the old path.
    dms.recorded.set('renamed/doc-1.pdf', dms.recorded.get('tenant-1/doc-1.pdf')!);
    dms.recorded.delete('tenant-1/doc-1.pdf');
    dms.files.delete('tenant-1/doc-1.pdf');
    const plan = await planStorageRepair(planDeps(), [snapshot]);
    expect(plan.toRestore).toEqual([{ id: 1, path: 'renamed/doc-1.pdf', sha256: sha256Of('content of document 1'), sizeBytes: 21, problem: 'missing', snapshotId: snapshot.id }]);
  });

  it('names what no snapshot can repair, and why', async () => {
    dms.add(13, 'tenant-1/doc-13.pdf', 'uploaded after the snapshot');
    dms.files.delete('tenant-1/doc-13.pdf');
    // Damaged before the snapshot was taken: the snapshot holds only the damaged bytes.
    dms.files.set('tenant-0/doc-3.pdf', Buffer.from('damaged early'));
    const damagedSnapshot = snapshotOf(dms, new MemoryObjects(), 'storage-20261102T120000Z-beef');
    const plan = await planStorageRepair(planDeps(), [damagedSnapshot]);
    expect(plan.toRestore).toEqual([]);
    expect(plan.unrecoverable).toEqual([
      { id: 3, path: 'tenant-0/doc-3.pdf', problem: 'damaged', reason: 'not in any snapshot', detail: expect.stringMatching(/^recorded content \(SHA-256 [0-9a-f]{12}…\) is in none of storage-20261102T120000Z-beef$/) },
      { id: 13, path: 'tenant-1/doc-13.pdf', problem: 'missing', reason: 'not in any snapshot', detail: expect.stringMatching(/^recorded content \(SHA-256 [0-9a-f]{12}…\) is in none of storage-20261102T120000Z-beef$/) },
    ]);
  });

  it('takes each document from the newest snapshot holding its recorded content, reading older ones only when needed', async () => {
    // `latest` was taken after the damage: it holds the damaged bytes of doc-3 and nothing of doc-5's content.
    dms.files.set('tenant-0/doc-3.pdf', Buffer.from('damaged before latest'));
    dms.files.delete('tenant-2/doc-5.pdf');
    const latest = snapshotOf(dms, objects, 'storage-20261103T120000Z-cafe');
    // A third, older snapshot that is never needed: reading it would fail the test.
    let olderRead = false;
    async function* snapshots() {
      yield latest;
      yield snapshot;
      olderRead = true;
      yield { ...snapshot, id: 'storage-20261001T120000Z-dead' };
    }
    dms.files.delete('tenant-1/doc-1.pdf');
    const plan = await planStorageRepair(planDeps(), snapshots());
    expect(olderRead).toBe(false);
    expect(plan.searched).toEqual([latest.id, snapshot.id]);
    expect(plan.toRestore.map((d) => [d.id, d.problem, d.snapshotId])).toEqual([
      [1, 'missing', latest.id],
      [3, 'damaged', snapshot.id],
      [5, 'missing', snapshot.id],
    ]);
    expect(restoredFrom(plan.toRestore)).toEqual([
      { snapshot: snapshot.id, count: 2, ids: [3, 5] },
      { snapshot: latest.id, count: 1, ids: [1] },
    ]);
    expect(plan.unrecoverable).toEqual([]);
  });

  it('refuses a document whose path escapes the storage, without looking for it in any snapshot', async () => {
    dms.recorded.set('../outside.pdf', { id: 40, sha256: sha256Of('content of document 1'), escapes: 'path escapes the uploads folder: ../outside.pdf' });
    const plan = await planStorageRepair(planDeps(), [snapshot]);
    expect(plan.toRestore).toEqual([]);
    expect(plan.unrecoverable).toEqual([
      { id: 40, path: '../outside.pdf', problem: 'unreadable', reason: 'path escapes the uploads folder', detail: 'unreadable (path escapes the uploads folder: ../outside.pdf)' },
    ]);
  });

  it('plans an unreadable document like a damaged one', async () => {
    const hasher = { hash: async () => Promise.reject(Object.assign(new Error('permission denied'), { code: 'EACCES' })), close: async () => {} };
    const plan = await planStorageRepair({ checksums: dms, hasher, concurrency: 2 }, [snapshot]);
    expect(plan.toRestore).toHaveLength(12);
    expect(plan.toRestore.every((d) => d.problem === 'unreadable')).toBe(true);
  });

  it('refuses a manifest that is not a storage snapshot', async () => {
    await expect(planStorageRepair(planDeps(), [{ ...snapshot, id: 'db-20261101T120000Z-abcd', kind: 'db', documents: undefined }])).rejects.toMatchObject({
      code: 'RESTORE_FAILED',
      userMessage: 'db-20261101T120000Z-abcd is not a storage snapshot',
    });
  });

  it('writes back what the plan names, at most `concurrency` at once, after which every checksum matches', async () => {
    const lost = [...dms.files.keys()].slice(0, 8);
    for (const path of lost) dms.files.delete(path);
    const progress: ProgressUpdate[] = [];
    const plan = await planStorageRepair(planDeps(), [snapshot]);
    const report = await writeBackDocuments({ ...writeDeps(), progress: (u) => progress.push(u) }, plan.toRestore);
    expect(report).toMatchObject({ written: 8, bytes: 8 * 21, failed: [] });
    expect(dms.writes.sort()).toEqual([...lost].sort());
    expect(dms.maxWritesAtOnce).toBe(3);
    expect(progress.at(-1)).toEqual({ step: 'write back documents (8 of 8)', bytesDone: 168, bytesTotal: 168 });
    expect((await verifyChecksums(planDeps())).problems).toEqual([]);
  });

  it('reports a damaged object, a lost object and a failed write, and still writes the rest', async () => {
    for (const path of ['tenant-1/doc-1.pdf', 'tenant-2/doc-2.pdf', 'tenant-0/doc-3.pdf', 'tenant-1/doc-4.pdf']) dms.files.delete(path);
    const plan = await planStorageRepair(planDeps(), [snapshot]);
    const [first, second, third] = plan.toRestore;
    objects.objects.set(first!.sha256, Buffer.from('content of document X'));
    objects.objects.delete(second!.sha256);
    dms.failWrites.add(third!.path);
    const report = await writeBackDocuments(writeDeps(), plan.toRestore);
    expect(report).toMatchObject({ written: 1, bytes: 21 });
    expect(report.failed).toEqual([
      { id: 1, path: 'tenant-1/doc-1.pdf', reason: 'the snapshot object does not hold the recorded content', detail: 'content for tenant-1/doc-1.pdf does not match; not written' },
      { id: 2, path: 'tenant-2/doc-2.pdf', reason: 'missing', detail: `ENOENT: object ${second!.sha256} is not in the repository memory://backups` },
      { id: 3, path: 'tenant-0/doc-3.pdf', reason: 'no space left on the device', detail: 'ENOSPC: no space left on device, write' },
    ]);
    expect(dms.files.has('tenant-1/doc-1.pdf')).toBe(false);
    expect(dms.files.has('tenant-1/doc-4.pdf')).toBe(true);
  });

  it('does nothing when nothing needs restoring', async () => {
    const plan = await planStorageRepair(planDeps(), [snapshot]);
    expect(plan.toRestore).toEqual([]);
    expect(await writeBackDocuments(writeDeps(), plan.toRestore)).toMatchObject({ written: 0, bytes: 0, failed: [] });
  });
});
