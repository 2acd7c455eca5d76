import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import Database from 'better-sqlite3';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { DatabaseDocumentChecksums } from '../../src/adapters/dms/document-checksums.ts';
import { LocalBackupRepository } from '../../src/adapters/repository/local-backup-repository.ts';
import { openStateStore } from '../../src/adapters/state/kysely-store.ts';
import { LocalDocumentSource } from '../../src/adapters/storage/local-document-source.ts';
import type { BackupManifest } from '../../src/backup/manifest.ts';
import type { StateStore } from '../../src/ports/state-store.ts';
import { backupStorage } from '../../src/procedures/backup-storage.ts';
import { pruneBackups } from '../../src/procedures/prune-backups.ts';
import { verifyStoredBackups } from '../../src/procedures/verify-backups.ts';
import { tempSandbox } from '../helpers/sandbox.ts';

describe('prune: retention over snapshots, then mark and sweep of objects', () => {
  let sandbox: Sandbox;
  let store: StateStore;
  let repository: LocalBackupRepository;
  let clock = new Date('2026-11-01T12:00:00Z');
  const snapshotIds: string[] = [];

  beforeAll(async () => {
    sandbox = await tempSandbox({ documents: 20 });
    store = await openStateStore(path.join(sandbox.dir, 'dr-state.db'));
    repository = new LocalBackupRepository(path.join(sandbox.dir, 'backups'));
    const files = (await readdir(sandbox.uploadsDir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
    // Ten days of snapshots; each day one document changes, so each day adds one object.
    for (let day = 0; day < 10; day += 1) {
      const changed = files[day]!;
      const content = `day ${day} content of ${changed.name}`;
      await writeFile(path.join(changed.parentPath, changed.name), content);
      // The DMS records the new content too, as it would for an edit: the snapshot is a verified one.
      const dms = new Database(sandbox.databaseUrl.slice('sqlite:'.length));
      dms.prepare('UPDATE documents SET checksum_sha256 = ? WHERE file_path = ?').run(createHash('sha256').update(content).digest('hex'), path.relative(sandbox.uploadsDir, path.join(changed.parentPath, changed.name)));
      dms.close();
      clock = new Date(Date.parse('2026-11-01T12:00:00Z') + day * 86_400_000);
      const manifest = await backupStorage({
        source: new LocalDocumentSource(sandbox.uploadsDir),
        checksums: new DatabaseDocumentChecksums(sandbox.databaseUrl),
        repository,
        store,
        timeoutMs: 60_000,
        now: () => clock,
        botVersion: 'test',
      });
      expect(manifest.verified).toBe(true);
      snapshotIds.push(manifest.id);
    }
  });
  afterAll(async () => {
    await store?.close();
    await sandbox?.destroy();
  });

  it('forgets what retention does not keep and sweeps only objects no remaining snapshot needs', async () => {
    const objectsBefore = await objectCount(sandbox);
    const result = await pruneBackups({
      repository,
      store,
      policy: { daily: 3, weekly: 1, monthly: 1 },
      timeZone: 'UTC',
      // Objects carry real file times; the sweep's clock must be past them for a zero grace period.
      now: () => new Date(Date.now() + 1_000),
      objectGraceMs: 0,
    });
    // Kept: the three newest days; the newest is also this week's and this month's. Every rule is filled,
    // so restic's oldest rule keeps nothing extra.
    expect(result.forgotten.sort()).toEqual(snapshotIds.slice(0, 7).sort());
    expect(result.keptBackups).toBe(3);
    const remaining = (await store.listCatalog({ kind: 'storage' })).map((m) => m.id).sort();
    expect(remaining).toEqual(snapshotIds.slice(7).sort());
    for (const id of result.forgotten) await expect(readFile(path.join(sandbox.dir, 'backups', 'manifests', `${id}.json`))).rejects.toThrow();

    // Every object a kept snapshot names is still there and intact.
    const check = await verifyStoredBackups({ repository, store }, 'storage');
    expect(check.damage).toEqual([]);
    // Documents 1-7 changed on days 1-7 (document 0 before the first snapshot): their original contents
    // were named only by the forgotten snapshots.
    expect(result.sweptObjects).toBe(7);
    expect(await objectCount(sandbox)).toBe(objectsBefore - 7);
    const needed = new Set<string>();
    for (const id of remaining) {
      const manifest = JSON.parse(await readFile(path.join(sandbox.dir, 'backups', 'manifests', `${id}.json`), 'utf8')) as BackupManifest;
      for (const doc of manifest.documents!) needed.add(doc.sha256);
    }
    expect(needed.size).toBe(await objectCount(sandbox));
  });

  it('leaves unreferenced objects younger than the grace period for a snapshot in progress', async () => {
    const orphan = await repository.putObject({ open: async () => (await import('node:stream')).Readable.from([Buffer.from('written by a snapshot still running')]) });
    const result = await pruneBackups({ repository, store, policy: { daily: 3, weekly: 1, monthly: 1 }, timeZone: 'UTC', now: () => new Date(), objectGraceMs: 3_600_000 });
    expect(result.sweptObjects).toBe(0);
    await expect(repository.hashObject(orphan.sha256)).resolves.toBe(orphan.sha256);
  });
});

async function objectCount(sandbox: Sandbox): Promise<number> {
  const entries = await readdir(path.join(sandbox.dir, 'backups', 'objects'), { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).length;
}
