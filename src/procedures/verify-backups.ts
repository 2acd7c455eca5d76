import type { BackupManifest } from '../backup/manifest.ts';
import { errorText } from '../domain/errors.ts';
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
    const manifest = (await deps.repository.readManifest(entry.id)) as BackupManifest;
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
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing from the repository' : `unreadable: ${errorText(error)}`;
  }
}

/** Rebuilds the catalog from the repository's manifests, so losing the bot's state loses no backup. Returns how many. */
export async function rebuildCatalog(deps: { repository: WritableBackupRepository; store: StateStore }, signal: AbortSignal): Promise<number> {
  const summaries = await deps.repository.listBackups(signal);
  for (const summary of summaries) {
    const manifest = (await deps.repository.readManifest(summary.id)) as BackupManifest;
    await deps.store.recordBackup({ ...manifest, documents: undefined });
  }
  return summaries.length;
}
