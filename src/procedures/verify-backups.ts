import type { BackupManifest } from '../backup/manifest.ts';
import { errorText, isStoreUnavailable } from '../domain/errors.ts';
import type { BackupKind, WritableBackupRepository } from '../ports/backup-repository.ts';
import type { StateStore } from '../ports/state-store.ts';
import { mapConcurrent } from '../domain/concurrency.ts';

/** One damaged piece of a stored backup, named exactly. */
export interface BackupDamage {
  backupId: string;
  /** The repository key, or for a snapshot the document path and its object. */
  file: string;
  problem: string;
}

/** What a repository check found. */
export interface RepositoryVerification {
  checkedBackups: number;
  checkedFiles: number;
  damage: BackupDamage[];
}

/**
 * Re-reads every file of every catalogued backup (of one kind, or all) and compares it with the SHA-256
 * its manifest recorded. A damaged backup is marked unverified in its manifest and the catalog, so it is
 * never again offered for a restore or counted towards the RPO.
 */
export async function verifyStoredBackups(
  deps: { repository: WritableBackupRepository; store: StateStore },
  kind?: BackupKind,
): Promise<RepositoryVerification> {
  const catalogued = await deps.store.listCatalog(kind ? { kind } : {});
  const damage: BackupDamage[] = [];
  let checkedFiles = 0;
  for (const entry of catalogued) {
    let manifest: BackupManifest;
    try {
      manifest = (await deps.repository.readManifest(entry.id)) as BackupManifest;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // Its manifest is gone (removed, or the repository wiped): the backup no longer exists. Said so in the
      // catalog, so it is never offered for a restore; `backups --rebuild` drops it.
      const gone: BackupDamage = { backupId: entry.id, file: `manifests/${entry.id}.json`, problem: 'missing from the repository (the backup is gone; `backups --rebuild` drops it from the catalog)' };
      damage.push(gone);
      checkedFiles += 1;
      if (entry.verified) await deps.store.recordBackup({ ...entry, verified: false, verification: { ...entry.verification, damaged: [`${gone.file}: missing from the repository`] } });
      continue;
    }
    const found: BackupDamage[] = [];
    for (const file of manifest.files) {
      checkedFiles += 1;
      const problem = await compare(() => deps.repository.hash(file.key), file.sha256);
      if (problem) found.push({ backupId: manifest.id, file: file.key, problem });
    }
    // A snapshot's documents share objects: check each object once, then name every document it holds.
    const byObject = new Map<string, string[]>();
    for (const doc of manifest.documents ?? []) byObject.set(doc.sha256, [...(byObject.get(doc.sha256) ?? []), doc.path]);
    const objectProblems = await mapConcurrent([...byObject.keys()], 8, async (sha256) => ({ sha256, problem: await compare(() => deps.repository.hashObject(sha256), sha256) }));
    checkedFiles += byObject.size;
    for (const { sha256, problem } of objectProblems) {
      if (!problem) continue;
      for (const docPath of byObject.get(sha256)!) found.push({ backupId: manifest.id, file: `${docPath} (object ${sha256.slice(0, 12)})`, problem });
    }
    if (found.length > 0) {
      damage.push(...found);
      const marked: BackupManifest = { ...manifest, verified: false, verification: { ...manifest.verification, damaged: found.map((d) => `${d.file}: ${d.problem}`) } };
      await deps.repository.writeManifest(manifest.id, marked);
      await deps.store.recordBackup({ ...marked, documents: undefined });
    }
  }
  return { checkedBackups: catalogued.length, checkedFiles, damage };
}

async function compare(read: () => Promise<string>, expected: string): Promise<string | undefined> {
  try {
    const actual = await read();
    return actual === expected ? undefined : `SHA-256 is ${actual.slice(0, 12)}…, the manifest says ${expected.slice(0, 12)}…`;
  } catch (error) {
    // A store that is gone, refuses the credentials or does not answer damages nothing: it stops the check.
    if (isStoreUnavailable(error)) throw error;
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing from the repository' : `unreadable: ${errorText(error)}`;
  }
}

/** What a catalog rebuild did. */
export interface CatalogRebuild {
  /** Backups recorded from their manifests. */
  recorded: number;
  /** Catalog rows dropped because their manifests are no longer in the repository. */
  dropped: string[];
}

/**
 * Rebuilds the catalog from the repository's manifests, so losing the bot's state loses no backup; rows whose
 * manifests are gone (pruned elsewhere, the repository wiped, a new prefix with the old state) are dropped.
 */
export async function rebuildCatalog(deps: { repository: WritableBackupRepository; store: StateStore }, signal: AbortSignal): Promise<CatalogRebuild> {
  // Listed first: a repository that cannot be listed fails the rebuild before any row is dropped.
  const summaries = await deps.repository.listBackups(signal);
  const found = new Set<string>();
  for (const summary of summaries) {
    let manifest: BackupManifest;
    try {
      manifest = (await deps.repository.readManifest(summary.id)) as BackupManifest;
    } catch (error) {
      // Removed since the listing: no backup any more.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    await deps.store.recordBackup({ ...manifest, documents: undefined });
    found.add(manifest.id);
  }
  const dropped: string[] = [];
  for (const row of await deps.store.listCatalog()) {
    signal.throwIfAborted();
    // Asked again per row: a backup that finished after the listing has its manifest, and keeps its row.
    if (found.has(row.id) || (await deps.repository.hasManifest(row.id))) continue;
    await deps.store.forgetBackup(row.id);
    dropped.push(row.id);
  }
  return { recorded: found.size, dropped };
}
