import { createHash, randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { tapStream } from '../backup/file-hash.ts';
import { newBackupId, type BackupManifest } from '../backup/manifest.ts';
import { DrError, errorText } from '../domain/errors.ts';
import type { BackupKind, StoredFile, WritableBackupRepository } from '../ports/backup-repository.ts';
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

/** Writes a backup file into a staged local path (the SQLite backup API, a tar archive, pg_dump into a local repository). */
export type FileProducer = (stagedPath: string, signal: AbortSignal, progress: (update: DumpProgress) => void, readCopy?: (file: string) => Promise<string>) => Promise<ProducedFile>;

/**
 * Streams a backup out as it is produced (pg_dump), and checks it as it is read back: used where the
 * repository uploads as the bytes come (S3), so the backup never needs a local copy.
 */
export interface StreamProducer {
  stream(out: NodeJS.WritableStream, signal: AbortSignal, progress: (update: DumpProgress) => void): Promise<Omit<ProducedFile, 'integrity' | 'sha256FromDisk'> & { sha256: string }>;
  check(input: NodeJS.ReadableStream, signal: AbortSignal): Promise<string>;
}

/**
 * The life of a one-file backup (database copy, config archive): produce it into the repository's
 * staging area, require its own check to pass, commit it atomically, read it back against its SHA-256,
 * write the manifest last and catalogue it. With a `streamed` producer and a repository that uploads as
 * the bytes come, the file is uploaded while it is produced and checked on its read-back instead. On any
 * failure the staged and stored files are removed and nothing is catalogued.
 */
export async function storeSingleFileBackup(deps: SingleFileBackupDeps, kind: BackupKind, extension: string, produce: FileProducer, streamed?: StreamProducer): Promise<BackupManifest> {
  const started = deps.now();
  const id = newBackupId(kind, started, randomBytes(2).toString('hex'));
  const key = `${kind}/${id}.${extension}`;
  const streaming = streamed !== undefined && deps.repository.upload !== undefined && deps.repository.readStream !== undefined;
  const staged = streaming ? undefined : await deps.repository.stage(`${id}.${extension}`);
  let committed = false;
  let manifestInFlight = false;
  let written = false;
  const report = ({ bytesDone, bytesTotal, phase }: DumpProgress) =>
    deps.progress?.({ step: phase ? `${kind} backup: ${phase}` : `${kind} backup`, bytesDone, ...(bytesTotal === undefined ? {} : { bytesTotal }) });
  try {
    // One deadline over every stage (copy, upload, read-back, manifest): a hung S3 call fails the job, which
    // then alerts, instead of holding its schedule forever; once it passes, no later stage starts.
    return await withJobDeadline(deps.timeoutMs, `the ${kind} backup`, async (signal) => {
      deps.progress?.({ step: `${kind} backup`, bytesDone: 0 });
      const afterCommit = async () => {
        committed = true;
        if (signal.aborted) {
          // Committed after the deadline had already cleaned up: nothing else removes it now.
          await deps.repository.discard(key).catch(() => {});
          signal.throwIfAborted();
        }
      };
      let produced: ProducedFile;
      let file: StoredFile;
      if (streaming) {
        const { result, sizeBytes } = await deps.repository.upload!(key, (out) => streamed!.stream(out, signal, report), signal);
        await afterCommit();
        deps.progress?.({ step: `${kind} backup: stored, reading it back and checking it`, bytesDone: 0 });
        const [integrity, reread] = await checkedReadBack(await deps.repository.readStream!(key, signal), streamed!, signal);
        requireSameHash(key, reread, result.sha256);
        if (integrity !== 'ok') throw new DrError('BACKUP_FAILED', `the ${kind} backup failed its check: ${integrity}`);
        produced = { ...result, integrity };
        file = { key, sizeBytes, sha256: result.sha256 };
      } else {
        try {
          // A repository that encrypts does it while the producer checks its copy, in the pass that hashes it.
          const readCopy = deps.repository.prepareStaged ? (file: string) => deps.repository.prepareStaged!(file) : undefined;
          produced = await produce(staged!, signal, report, readCopy);
        } finally {
          // A producer that ignores the signal may write after the deadline's clean-up: remove what it left.
          if (signal.aborted) await deps.repository.discard(staged!).catch(() => {});
        }
        signal.throwIfAborted();
        if (produced.integrity !== 'ok') throw new DrError('BACKUP_FAILED', `the ${kind} backup failed its check: ${produced.integrity}`);
        file = await deps.repository.commit(staged!, key, produced.sha256);
        await afterCommit();
        deps.progress?.({ step: `${kind} backup: stored, reading it back`, bytesDone: 0 });
        // The SHA-256 must come from reading the stored bytes: when commit() hashed them, or they were hashed from
        // disk and commit() only renamed the file, that read is done; otherwise (streamed hash, upload) read now.
        const alreadyRead = deps.repository.commitMovesFile && (produced.sha256 === undefined || produced.sha256FromDisk === true);
        if (!alreadyRead) {
          const reread = await deps.repository.hash(key);
          requireSameHash(key, reread, file.sha256);
        }
      }
      signal.throwIfAborted();
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
        // Encrypted by the repository (DR_BACKUP_KEY set), the manifest says how and with which key.
        ...(deps.repository.encryption ? { encryption: deps.repository.encryption } : produced.extra?.encryption ? { encryption: produced.extra.encryption } : {}),
      };
      manifestInFlight = true;
      try {
        await deps.repository.writeManifest(id, manifest);
      } catch (error) {
        manifestInFlight = false;
        // Failed after the deadline had already given up on it: its file is removed here, by the last one to know.
        if (signal.aborted) await deps.repository.discard(key).catch(() => {});
        throw error;
      }
      manifestInFlight = false;
      written = true;
      await deps.store.recordBackup(manifest);
      return manifest;
    });
  } catch (error) {
    if (written) {
      // The backup exists and is sound; only the catalog missed it, and the catalog is rebuilt from manifests.
      throw new DrError('BACKUP_FAILED', `backup ${id} is stored and verified, but could not be catalogued: ${errorText(error)}`, { cause: error });
    }
    if (staged) await deps.repository.discard(staged).catch(() => {});
    // A manifest write still in flight (the deadline passed during it) may yet land: its file must then be there.
    if (committed && !manifestInFlight) await deps.repository.discard(key).catch(() => {});
    throw error instanceof DrError ? error : new DrError('BACKUP_FAILED', `${kind} backup failed: ${errorText(error)}`, { cause: error });
  }
}

// A stored file that does not read back as it was written is no backup.
function requireSameHash(key: string, reread: string, written: string): void {
  if (reread !== written) throw new DrError('BACKUP_FAILED', `${key} reads back with SHA-256 ${reread.slice(0, 8)}, written as ${written.slice(0, 8)}`);
}

// Reads a stored stream once: its SHA-256, and the producer's own check of the same bytes.
async function checkedReadBack(back: NodeJS.ReadableStream, producer: StreamProducer, signal: AbortSignal): Promise<[integrity: string, sha256: string]> {
  const hash = createHash('sha256');
  const forCheck = new PassThrough();
  const hashing = pipeline(back, tapStream((chunk) => hash.update(chunk)), forCheck);
  const [integrity] = await Promise.all([producer.check(forCheck, signal), hashing]);
  return [integrity, hash.digest('hex')];
}
