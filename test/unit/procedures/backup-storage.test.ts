import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LocalBackupRepository } from '../../../src/adapters/repository/local-backup-repository.ts';
import type { WritableBackupRepository } from '../../../src/ports/backup-repository.ts';
import type { DocumentSource } from '../../../src/ports/dms.ts';
import { backupStorage } from '../../../src/procedures/backup-storage.ts';
import { MemoryDms } from '../../fakes/document-storage.ts';
import { useTempStateStore } from '../../helpers/temp-store.ts';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

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

// The real local repository with some of its methods replaced.
function repositoryWith(root: string, overrides: Partial<LocalBackupRepository>): LocalBackupRepository {
  const repository = new LocalBackupRepository(root);
  return Object.assign(Object.create(repository) as LocalBackupRepository, overrides);
}

describe('backupStorage', () => {
  const temp = useTempStateStore('dr-backup-storage');
  const fiveDocuments = () => {
    const dms = new MemoryDms();
    for (let i = 0; i < 5; i += 1) dms.add(i, `tenant-1/doc-${i}.pdf`, `content ${i}`);
    return dms;
  };
  const noSnapshotLeft = async () => {
    expect(await readdir(path.join(temp.dir, 'repo', 'manifests')).catch(() => [])).toEqual([]);
    expect(await readdir(path.join(temp.dir, 'repo', '.staging')).catch(() => [])).toEqual([]);
    expect(await temp.store.listCatalog()).toEqual([]);
  };

  it('fails, naming the object, when a stored object reads back as something else; no snapshot is written', async () => {
    const dms = fiveDocuments();
    const root = path.join(temp.dir, 'repo');
    const real = new LocalBackupRepository(root);
    const repository = repositoryWith(root, {
      putObject: async (content) => {
        const result = await real.putObject(content);
        return result.stored && result.sha256 === sha256('content 3') ? { ...result, readBackSha256: sha256('bit rot') } : result;
      },
    });
    await expect(
      backupStorage({ source: stallingSource(dms, 'never'), checksums: dms, repository, store: temp.store, timeoutMs: 10_000, now: () => new Date(), botVersion: 'test' }),
    ).rejects.toMatchObject({ code: 'BACKUP_FAILED', userMessage: `object ${sha256('content 3').slice(0, 8)} reads back as ${sha256('bit rot').slice(0, 8)}` });
    await noSnapshotLeft();
  });

  it('flushes the objects a failed snapshot stored but never flushed, when the next one finds them there', async () => {
    const dms = fiveDocuments();
    const root = path.join(temp.dir, 'repo');
    const failing = repositoryWith(root, { flushObjects: async () => Promise.reject(new Error('EIO: i/o error, fsync')) });
    const deps = { source: stallingSource(dms, 'never'), checksums: dms, store: temp.store, timeoutMs: 10_000, now: () => new Date(), botVersion: 'test' };
    await expect(backupStorage({ ...deps, repository: failing })).rejects.toMatchObject({ code: 'BACKUP_FAILED' });
    const flushed: string[][] = [];
    const real = new LocalBackupRepository(root);
    const recording = repositoryWith(root, {
      flushObjects: async (objects) => {
        flushed.push([...objects]);
        await real.flushObjects(objects);
      },
    });
    const manifest = await backupStorage({ ...deps, repository: recording });
    expect(manifest.verification.copied).toMatchObject({ files: 5, bytes: 0 });
    expect(flushed).toEqual([expect.arrayContaining([0, 1, 2, 3, 4].map((i) => sha256(`content ${i}`)))]);
  });

  it('puts the manifest in place only once the objects it names are flushed', async () => {
    const dms = fiveDocuments();
    const root = path.join(temp.dir, 'repo');
    let flushStarted!: () => void;
    const started = new Promise<void>((resolve) => (flushStarted = resolve));
    let finishFlush!: () => void;
    const flushGate = new Promise<void>((resolve) => (finishFlush = resolve));
    const slowFlush = repositoryWith(root, {
      flushObjects: async () => {
        flushStarted();
        await flushGate;
      },
    });
    const snapshot = backupStorage({ source: stallingSource(dms, 'never'), checksums: dms, repository: slowFlush, store: temp.store, timeoutMs: 10_000, now: () => new Date(), botVersion: 'test' });
    await started;
    // The manifest is built, staged and fsynced meanwhile, but not where a reader would find it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await readdir(path.join(root, 'manifests')).catch(() => [])).toEqual([]);
    expect(await temp.store.listCatalog()).toEqual([]);
    finishFlush();
    await snapshot;
    expect(await readdir(path.join(root, 'manifests'))).toHaveLength(1);
    expect(await temp.store.listCatalog({ kind: 'storage' })).toHaveLength(1);
  });

  it('writes no manifest when the stored objects cannot be flushed, and says why', async () => {
    const dms = fiveDocuments();
    const repository = repositoryWith(path.join(temp.dir, 'repo'), {
      flushObjects: async () => Promise.reject(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' })),
    });
    await expect(
      backupStorage({ source: stallingSource(dms, 'never'), checksums: dms, repository, store: temp.store, timeoutMs: 10_000, now: () => new Date(), botVersion: 'test' }),
    ).rejects.toMatchObject({ code: 'BACKUP_FAILED', userMessage: 'document snapshot failed: EIO: i/o error, fsync' });
    await noSnapshotLeft();
  });

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

  it('takes a snapshot in full when the previous one’s manifest is gone, whether it was in memory or not, and marks that one unverified', async () => {
    const dms = new MemoryDms();
    for (let i = 0; i < 6; i += 1) dms.add(i, `tenant-1/doc-${i}.pdf`, `content ${i}`);
    const root = path.join(temp.dir, 'repo');
    const repository = new LocalBackupRepository(root);
    const snapshot = () => backupStorage({ source: stallingSource(dms, 'never'), checksums: dms, repository, store: temp.store, timeoutMs: 10_000, now: () => new Date(), botVersion: 'test' });
    const first = await snapshot();
    // This process remembers the first snapshot; its manifest is removed (a wiped repository, another prefix).
    await rm(path.join(root, 'manifests', `${first.id}.json`));
    const second = await snapshot();
    expect(second.verification.full_because).toBe(`the manifest of the previous snapshot ${first.id} is gone from the repository`);
    // Every file was read again and checked (nothing vouched for by a snapshot that is gone).
    expect(second.verification.copied).toMatchObject({ files: 6, reused: 0 });
    expect(second.documents?.every((d) => d.checksum === 'ok')).toBe(true);
    const catalog = await temp.store.listCatalog({ kind: 'storage' });
    expect(catalog.find((m) => m.id === first.id)).toMatchObject({ verified: false, verification: { damaged: ['manifest missing from the repository'] } });
    // Not from memory: the catalogued snapshot is read from the repository, and it is gone too.
    await rm(path.join(root, 'manifests', `${second.id}.json`));
    await temp.store.recordBackup({ ...second, documents: undefined });
    // Another process (nothing in memory) sees the same repository.
    const other = new LocalBackupRepository(root);
    const third = await backupStorage({ source: stallingSource(dms, 'never'), checksums: dms, repository: Object.create(other, { location: { value: `${root} (another process)` } }) as LocalBackupRepository, store: temp.store, timeoutMs: 10_000, now: () => new Date(), botVersion: 'test' });
    expect(third.verification.full_because).toContain(second.id);
  });

  it('tells the repository which objects the previous snapshot names, or lists what is there when there is none', async () => {
    const dms = new MemoryDms();
    for (let i = 0; i < 4; i += 1) dms.add(i, `tenant-1/doc-${i}.pdf`, `content ${i}`);
    const root = path.join(temp.dir, 'repo');
    const real = new LocalBackupRepository(root);
    const asked: Array<string | undefined> = [];
    let listed = 0;
    // A local repository that lists its objects as a remote one does (a folder has no need to).
    const overrides: Partial<WritableBackupRepository> = {
      putObject: async (content, known) => {
        const result = await real.putObject(content);
        asked.push(known?.(result.sha256));
        return result;
      },
      presentObjects: async () => {
        listed += 1;
        return new Set([sha256('content 0')]);
      },
    };
    const repository = repositoryWith(root, overrides as Partial<LocalBackupRepository>);
    const deps = { checksums: dms, repository, store: temp.store, timeoutMs: 10_000, now: () => new Date(), botVersion: 'test' };
    await backupStorage({ ...deps, source: stallingSource(dms, 'never') });
    // No previous snapshot: the repository's objects were listed once; content 0 is there, the rest unknown.
    expect(listed).toBe(1);
    expect(asked.sort()).toEqual(['present', undefined, undefined, undefined].sort());
    asked.length = 0;
    // A new file whose content the previous snapshot names, and one whose content is new.
    dms.add(10, 'tenant-2/copy.pdf', 'content 1');
    dms.add(11, 'tenant-2/new.pdf', 'new content');
    await backupStorage({ ...deps, source: stallingSource(dms, 'never') });
    expect(listed).toBe(1);
    expect(asked.sort()).toEqual(['referenced', undefined].sort());
  });
});
