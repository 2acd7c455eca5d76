import { randomBytes } from 'node:crypto';
import { newBackupId, type BackupManifest, type SnapshotDocument } from '../backup/manifest.ts';
import { DrError, errorText } from '../domain/errors.ts';
import type { PutObjectResult, WritableBackupRepository } from '../ports/backup-repository.ts';
import type { DocumentChecksums, DocumentEntry, DocumentSource, RecordedDocument } from '../ports/dms.ts';
import type { StateStore } from '../ports/state-store.ts';
import type { ProgressUpdate } from '../commands/types.ts';
import { withJobDeadline } from './deadline.ts';
import { createLimiter } from '../domain/concurrency.ts';

/** What a document snapshot needs. */
export interface BackupStorageDeps {
  source: DocumentSource;
  checksums: DocumentChecksums;
  repository: WritableBackupRepository;
  store: StateStore;
  now: () => Date;
  botVersion: string;
  /** The whole snapshot must finish within this; past it, queued copies stop and no manifest is written. */
  timeoutMs: number;
  /** Files copied at once: enough to keep the disk busy, few enough not to starve the bot. */
  concurrency?: number;
  progress?: (update: ProgressUpdate) => void;
}

/**
 * Snapshots the document storage into content-addressed objects (key = SHA-256), incremental forever:
 * a file whose size and mtime match the previous snapshot is taken from it without being read, and
 * content already in the repository is not stored again. Every file is checked against the DMS's own
 * `documents.checksum_sha256`; mismatches and missing files are recorded and reported, never passed as
 * good. Objects stored by this run are read back and re-hashed, and flushed, before the manifest is written.
 */
export async function backupStorage(deps: BackupStorageDeps): Promise<BackupManifest> {
  return withJobDeadline(deps.timeoutMs, 'the document snapshot', (signal) => snapshotStorage(deps, signal));
}

async function snapshotStorage(deps: BackupStorageDeps, signal: AbortSignal): Promise<BackupManifest> {
  const started = deps.now();
  const id = newBackupId('storage', started, randomBytes(2).toString('hex'));
  try {
    // The listing runs while the previous snapshot loads (a local source lists on worker threads), and changed
    // files are stored as they are found; the DMS checksums load while those copies run.
    const previousLoad = previousDocuments(deps);
    previousLoad.catch(() => {});
    let expectedLoad: ReturnType<DocumentChecksums['load']> | undefined;
    const limit = createLimiter(deps.concurrency ?? 8);
    const copies: Array<Promise<void>> = [];
    // Set on the first failure (a copy, the listing, a load): queued copies then do nothing.
    let stopped: { error: unknown } | undefined;
    signal.addEventListener('abort', () => void (stopped ??= { error: signal.reason }), { once: true });
    const tally = new DocumentTally();
    let bytesListed = 0;
    let bytesDone = 0;
    let copiedFiles = 0;
    let copiedBytes = 0;
    // Every object this run's copies ended in, stored now or found there: all are flushed before the manifest.
    const copiedObjects: string[] = [];
    let listingDone = false;
    const report = () => deps.progress?.({ step: 'storage snapshot', bytesDone, ...(listingDone ? { bytesTotal: bytesListed } : {}) });
    const copy = async (entry: DocumentEntry): Promise<void> => {
      if (stopped) return;
      const localPath = deps.source.localPath?.(entry.path);
      let object: PutObjectResult;
      try {
        object = await deps.repository.putObject({ open: () => deps.source.open(entry.path), ...(localPath === undefined ? {} : { localPath }) });
      } catch (error) {
        // Deleted since it was listed: the snapshot holds what is there, and the DMS check names it missing.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT' && localPath !== undefined) return tally.vanished();
        throw error;
      }
      copiedFiles += 1;
      if (object.stored) {
        // Read back by putObject as soon as it was stored, while other files are still being copied.
        if (object.readBackSha256 !== object.sha256) {
          throw new DrError('BACKUP_FAILED', `object ${object.sha256.slice(0, 8)} reads back as ${object.readBackSha256.slice(0, 8)}`);
        }
        copiedBytes += object.sizeBytes;
      }
      copiedObjects.push(object.sha256);
      tally.add(entry, object.sha256);
      bytesDone += entry.sizeBytes;
      report();
    };
    try {
      for await (const batch of deps.source.list()) {
        if (stopped) break;
        const previous = await previousLoad;
        for (const entry of batch) {
          tally.listed += 1;
          bytesListed += entry.sizeBytes;
          const before = previous.get(entry.path);
          if (before && before.size_bytes === entry.sizeBytes && before.mtime_ms === entry.mtimeMs) {
            tally.add(entry, before.sha256);
            bytesDone += entry.sizeBytes;
            continue;
          }
          // Settled at once: a failed copy stops the rest and is thrown below, never left unhandled.
          copies.push(limit(() => copy(entry)).catch((error: unknown) => void (stopped ??= { error })));
        }
        // Started once the workers have folders to list and files to copy: a SQLite DMS answers synchronously,
        // and this way its query overlaps their work instead of delaying it.
        if (!expectedLoad) {
          expectedLoad = deps.checksums.load();
          expectedLoad.then((expected) => tally.checksumsLoaded(expected)).catch(() => {});
        }
      }
      listingDone = true;
      await previousLoad;
      tally.checksumsLoaded(await (expectedLoad ?? deps.checksums.load()));
    } catch (error) {
      stopped ??= { error };
    } finally {
      // Nothing of this run keeps copying after it has failed (or succeeded).
      await Promise.allSettled(copies);
    }
    if (stopped) throw stopped.error;
    report();
    // The stored objects become durable while the manifest is built and staged; it names them only after.
    const objectsDurable = deps.repository.flushObjects(copiedObjects).then(() => signal.throwIfAborted());
    objectsDurable.catch(() => {});

    const { documents, mismatches, sizeBytes } = tally;
    const neverStored = tally.listed - tally.vanishedCount - documents.length;
    if (neverStored !== 0) throw new DrError('BACKUP_FAILED', `${neverStored} listed files were never stored`);
    const missing = tally.missing();
    const problems = [mismatches.length ? `${mismatches.length} checksum mismatches` : '', missing.length ? `${missing.length} missing files` : ''].filter(Boolean);
    const manifest: BackupManifest = {
      format: 1,
      id,
      kind: 'storage',
      started_at: started.toISOString(),
      finished_at: deps.now().toISOString(),
      source: { location: deps.source.location },
      files: [],
      size_bytes: sizeBytes,
      tools: { node: process.versions.node, 'dr-bot': deps.botVersion },
      // Verified means every stored byte was read back and matches; content problems are reported beside it.
      verified: true,
      verification: {
        integrity: problems.length ? problems.join(', ') : 'ok',
        hashes_rechecked: true,
        checksum_mismatches: mismatches.sort(),
        missing,
        copied: { files: copiedFiles, bytes: copiedBytes, reused: documents.length - copiedFiles },
      },
      documents: documents.sort((a, b) => (a.path < b.path ? -1 : 1)),
      // Objects are encrypted by the repository when DR_BACKUP_KEY is set: the manifest says how and with which key.
      ...(deps.repository.encryption ? { encryption: deps.repository.encryption } : {}),
    };
    // The manifest is what makes the snapshot exist: every object it names is on disk first.
    await deps.repository.writeManifest(id, manifest, objectsDurable);
    rememberSnapshot(deps, manifest);
    try {
      await deps.store.recordBackup({ ...manifest, documents: undefined });
    } catch (error) {
      throw new DrError('BACKUP_FAILED', `snapshot ${id} is stored and verified, but could not be catalogued: ${errorText(error)}`, { cause: error });
    }
    return manifest;
  } catch (error) {
    // Objects already stored stay: they are content-addressed, harmless, and the next snapshot reuses them.
    throw error instanceof DrError ? error : new DrError('BACKUP_FAILED', `document snapshot failed: ${errorText(error)}`, { cause: error });
  }
}

// The documents of the snapshot this process took last, kept for the next one (the bot takes them hourly):
// reading them back would parse the whole manifest again. Only up to this many, so memory stays bounded.
const REMEMBERED_DOCUMENTS_MAX = 100_000;
let lastSnapshot: { repository: string; id: string; documents: Map<string, SnapshotDocument> } | undefined;

function rememberSnapshot(deps: BackupStorageDeps, manifest: BackupManifest): void {
  const documents = manifest.documents ?? [];
  lastSnapshot = documents.length <= REMEMBERED_DOCUMENTS_MAX ? { repository: deps.repository.location, id: manifest.id, documents: new Map(documents.map((d) => [d.path, d])) } : undefined;
}

// Whether objects a snapshot stored are stored as this run would store them: in clear both, or under the same key.
function sameEncryption(previous: BackupManifest['encryption'], now: BackupManifest['encryption']): boolean {
  return previous?.algorithm === now?.algorithm && previous?.key_fingerprint === now?.key_fingerprint;
}

async function previousDocuments(deps: BackupStorageDeps): Promise<Map<string, SnapshotDocument>> {
  // Only a snapshot whose objects were last found intact may vouch for files it is not re-reading, and only one
  // encrypted as this one is: after DR_BACKUP_KEY is set or changed, every file is stored again, encrypted.
  const latest = (await deps.store.listCatalog({ kind: 'storage', limit: 50 })).find((m) => m.verified);
  if (!latest || !sameEncryption(latest.encryption, deps.repository.encryption)) return new Map();
  if (lastSnapshot?.id === latest.id && lastSnapshot.repository === deps.repository.location) return lastSnapshot.documents;
  const manifest = (await deps.repository.readManifest(latest.id)) as BackupManifest;
  return new Map((manifest.documents ?? []).map((d) => [d.path, d]));
}

/**
 * The snapshot's documents, each made as soon as its SHA-256 and the DMS checksums are both known: most
 * are made while the listing still runs, instead of in one pass over every file after it.
 */
class DocumentTally {
  readonly documents: SnapshotDocument[] = [];
  readonly mismatches: string[] = [];
  sizeBytes = 0;
  listed = 0;
  vanishedCount = 0;
  private expected: Map<string, RecordedDocument> | undefined;
  private waiting: Array<{ entry: DocumentEntry; sha256: string }> = [];
  // Documents the DMS knows: when every one it lists was found, none is missing and no scan is needed.
  private recordedFound = 0;

  add(entry: DocumentEntry, sha256: string): void {
    if (this.expected) this.make(this.expected, entry, sha256);
    else this.waiting.push({ entry, sha256 });
  }

  vanished(): void {
    this.vanishedCount += 1;
  }

  checksumsLoaded(expected: Map<string, RecordedDocument>): void {
    if (this.expected) return;
    this.expected = expected;
    for (const { entry, sha256 } of this.waiting) this.make(expected, entry, sha256);
    this.waiting = [];
  }

  /** Paths the DMS records that the snapshot did not find, sorted. */
  missing(): string[] {
    const expected = this.expected ?? new Map<string, RecordedDocument>();
    if (this.recordedFound === expected.size) return [];
    const found = new Set(this.documents.map((d) => d.path));
    return [...expected.keys()].filter((p) => !found.has(p)).sort();
  }

  private make(expected: Map<string, RecordedDocument>, entry: DocumentEntry, sha256: string): void {
    const want = expected.get(entry.path)?.sha256;
    const checksum = want === undefined ? 'unknown' : want === sha256 ? 'ok' : 'mismatch';
    if (want !== undefined) this.recordedFound += 1;
    if (checksum === 'mismatch') this.mismatches.push(entry.path);
    this.documents.push({ path: entry.path, size_bytes: entry.sizeBytes, mtime_ms: entry.mtimeMs, sha256, checksum });
    this.sizeBytes += entry.sizeBytes;
  }
}
