import { randomBytes } from 'node:crypto';
import { newBackupId, type BackupManifest } from '../backup/manifest.ts';
import { DrError, errorText } from '../domain/errors.ts';
import type { BackupKind, WritableBackupRepository } from '../ports/backup-repository.ts';
import type { StateStore } from '../ports/state-store.ts';
import type { ProgressUpdate } from '../commands/types.ts';
import type { DumpProgress } from '../ports/dms.ts';
import { withJobDeadline } from './deadline.ts';

/** Where a one-file backup goes, and how its manifest is stamped. */
export interface SingleFileBackupDeps {
  repository: WritableBackupRepository;
  store: StateStore;
  timeoutMs: number;
  now: () => Date;
  botVersion: string;
  progress?: (update: ProgressUpdate) => void;
}

/** What producing the file found: its own check, and what the manifest should say about it. */
export interface ProducedFile {
  /** `ok`, or what the check of the produced file reported. */
  integrity: string;
  /** SHA-256 when it was computed while the file streamed, or read back from the finished file (saves a pass). */
  sha256?: string;
  sha256FromDisk?: boolean;
  tools: Record<string, string>;
  source: BackupManifest['source'];
  extra?: Partial<Pick<BackupManifest, 'encryption'>> & { verification?: Partial<BackupManifest['verification']> };
}

/**
 * The life of a one-file backup (database copy, config archive): produce it into the repository's
 * staging area, require its own check to pass, commit it atomically, read it back against its SHA-256,
 * write the manifest last and catalogue it. On any failure the staged and stored files are removed and
 * nothing is catalogued.
 */
export async function storeSingleFileBackup(
  deps: SingleFileBackupDeps,
  kind: BackupKind,
  extension: string,
  produce: (stagedPath: string, signal: AbortSignal, progress: (update: DumpProgress) => void) => Promise<ProducedFile>,
): Promise<BackupManifest> {
  const started = deps.now();
  const id = newBackupId(kind, started, randomBytes(2).toString('hex'));
  const key = `${kind}/${id}.${extension}`;
  const staged = await deps.repository.stage(`${id}.${extension}`);
  let committed = false;
  let manifestStarted = false;
  let written = false;
  try {
    // One deadline over every stage (copy, upload, read-back, manifest): a hung S3 call fails the job, which
    // then alerts, instead of holding its schedule forever; once it passes, no later stage starts.
    return await withJobDeadline(deps.timeoutMs, `the ${kind} backup`, async (signal) => {
      deps.progress?.({ step: `${kind} backup`, bytesDone: 0 });
      const produced = await produce(staged, signal, ({ bytesDone, bytesTotal, phase }) =>
        deps.progress?.({ step: phase ? `${kind} backup: ${phase}` : `${kind} backup`, bytesDone, ...(bytesTotal === undefined ? {} : { bytesTotal }) }),
      );
      signal.throwIfAborted();
      if (produced.integrity !== 'ok') throw new DrError('BACKUP_FAILED', `the ${kind} backup failed its check: ${produced.integrity}`);
      const file = await deps.repository.commit(staged, key, produced.sha256);
      committed = true;
      if (signal.aborted) {
        // Committed after the deadline had already cleaned up: nothing else removes it now.
        await deps.repository.discard(key).catch(() => {});
        signal.throwIfAborted();
      }
      deps.progress?.({ step: `${kind} backup: stored, reading it back`, bytesDone: 0 });
      // The SHA-256 must come from reading the stored bytes: when commit() hashed them, or they were hashed from
      // disk and commit() only renamed the file, that read is done; otherwise (streamed hash, upload) read now.
      const alreadyRead = deps.repository.commitMovesFile && (produced.sha256 === undefined || produced.sha256FromDisk === true);
      if (!alreadyRead) {
        const reread = await deps.repository.hash(key);
        if (reread !== file.sha256) throw new DrError('BACKUP_FAILED', `${key} reads back with SHA-256 ${reread.slice(0, 8)}, written as ${file.sha256.slice(0, 8)}`);
        signal.throwIfAborted();
      }
      const manifest: BackupManifest = {
        format: 1,
        id,
        kind,
        started_at: started.toISOString(),
        finished_at: deps.now().toISOString(),
        source: produced.source,
        files: [{ key: file.key, size_bytes: file.sizeBytes, sha256: file.sha256 }],
        size_bytes: file.sizeBytes,
        tools: { ...produced.tools, node: process.versions.node, 'dr-bot': deps.botVersion },
        verified: true,
        verification: { integrity: produced.integrity, hashes_rechecked: true, ...produced.extra?.verification },
        ...(produced.extra?.encryption ? { encryption: produced.extra.encryption } : {}),
      };
      manifestStarted = true;
      await deps.repository.writeManifest(id, manifest);
      written = true;
      await deps.store.recordBackup(manifest);
      return manifest;
    });
  } catch (error) {
    if (written) {
      // The backup exists and is sound; only the catalog missed it, and the catalog is rebuilt from manifests.
      throw new DrError('BACKUP_FAILED', `backup ${id} is stored and verified, but could not be catalogued: ${errorText(error)}`, { cause: error });
    }
    await deps.repository.discard(staged).catch(() => {});
    // A manifest write still in flight may yet land: its file must then be there for it.
    if (committed && !manifestStarted) await deps.repository.discard(key).catch(() => {});
    throw error instanceof DrError ? error : new DrError('BACKUP_FAILED', `${kind} backup failed: ${errorText(error)}`, { cause: error });
  }
}
