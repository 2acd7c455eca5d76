import type { BackupManifest } from '../backup/manifest.ts';
import { applyRetention, type RetentionPolicy } from '../backup/retention.ts';
import { BACKUP_KINDS, type WritableBackupRepository } from '../ports/backup-repository.ts';
import type { StateStore } from '../ports/state-store.ts';

/** What pruning needs. */
export interface PruneDeps {
  repository: WritableBackupRepository;
  store: StateStore;
  policy: RetentionPolicy;
  timeZone: string;
  now: () => Date;
  /** Unreferenced objects younger than this are left alone: a snapshot in progress may be about to reference them. */
  objectGraceMs: number;
  /** Aborted at the job's deadline: nothing more is removed after it. */
  signal?: AbortSignal;
}

/** What a prune did. */
export interface PruneResult {
  forgotten: string[];
  keptBackups: number;
  sweptObjects: number;
  sweptBytes: number;
}

/**
 * Forgets the verified backups retention does not keep (per kind; unverified ones are left as evidence),
 * then sweeps document objects that no remaining snapshot references. The set of referenced objects is
 * read from the repository's own manifests, not the catalog, so an object a snapshot needs is never swept.
 */
export async function pruneBackups(deps: PruneDeps): Promise<PruneResult> {
  const forgotten: string[] = [];
  let keptBackups = 0;
  for (const kind of BACKUP_KINDS) {
    const verified = (await deps.store.listCatalog({ kind })).filter((m) => m.verified);
    const decisions = applyRetention(verified.map((m) => ({ id: m.id, finishedAt: m.finished_at })), deps.policy, deps.timeZone);
    keptBackups += decisions.filter((d) => d.keep).length;
    for (const decision of decisions.filter((d) => !d.keep)) {
      deps.signal?.throwIfAborted();
      const manifest = (await deps.repository.readManifest(decision.id)) as BackupManifest;
      await deps.repository.removeBackup(manifest.id, manifest.files.map((f) => f.key));
      await deps.store.forgetBackup(manifest.id);
      forgotten.push(manifest.id);
    }
  }

  // Mark: every object any remaining snapshot manifest names. Sweep: the rest, once past the grace period.
  const referenced = new Set<string>();
  for (const summary of await deps.repository.listBackups(deps.signal ?? new AbortController().signal)) {
    if (summary.kind !== 'storage') continue;
    const manifest = (await deps.repository.readManifest(summary.id)) as BackupManifest;
    for (const doc of manifest.documents ?? []) referenced.add(doc.sha256);
  }
  const cutoff = deps.now().getTime() - deps.objectGraceMs;
  let sweptObjects = 0;
  let sweptBytes = 0;
  for await (const object of deps.repository.listObjects()) {
    if (referenced.has(object.sha256) || object.mtimeMs > cutoff) continue;
    deps.signal?.throwIfAborted();
    await deps.repository.removeObject(object.sha256);
    sweptObjects += 1;
    sweptBytes += object.sizeBytes;
  }
  return { forgotten, keptBackups, sweptObjects, sweptBytes };
}
