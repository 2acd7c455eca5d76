import { randomBytes } from 'node:crypto';
import { newBackupId, snapshotObjectsProven, type BackupManifest, type SnapshotDocument } from '../backup/manifest.ts';
import { DrError, errorText } from '../domain/errors.ts';
import type { KnownObject, PutObjectResult, WritableBackupRepository } from '../ports/backup-repository.ts';
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
    const previousLoad = previousSnapshot(deps, signal);
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
    // What is known of an object without asking the repository: a remote one then sends one request per new object.
    const storedNow = new Set<string>();
    let known: ((sha256: string) => KnownObject | undefined) | undefined;
    let listingDone = false;
    let fullBecause: string | undefined;
    const report = () => deps.progress?.({ step: 'storage snapshot', bytesDone, ...(listingDone ? { bytesTotal: bytesListed } : {}) });
    const copy = async (entry: DocumentEntry): Promise<void> => {
      if (stopped) return;
      const localPath = deps.source.localPath?.(entry.path);
      let object: PutObjectResult;
      try {
        object = await deps.repository.putObject({ open: () => deps.source.open(entry.path), ...(localPath === undefined ? {} : { localPath }) }, known);
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
      storedNow.add(object.sha256);
      tally.add(entry, object.sha256);
      bytesDone += entry.sizeBytes;
      report();
    };
    try {
      for await (const batch of deps.source.list()) {
        if (stopped) break;
        // Started as soon as the workers have folders to list: a SQLite DMS answers synchronously, and this way
        // its query overlaps their listing (and the previous manifest's read) instead of following them.
        if (!expectedLoad) {
          expectedLoad = deps.checksums.load();
          expectedLoad.then((expected) => tally.checksumsLoaded(expected)).catch(() => {});
        }
        const { documents: previous, referenced, present } = await previousLoad;
        known ??= (sha256) => (referenced().has(sha256) || storedNow.has(sha256) ? 'referenced' : present.has(sha256) ? 'present' : undefined);
        for (const entry of batch) {
          tally.listed += 1;
          bytesListed += entry.sizeBytes;
          const before = previous.get(entry.path);
          if (before && before.size_bytes === entry.sizeBytes && before.mtime_ms === entry.mtimeMs) {
            tally.unchanged(before);
            bytesDone += entry.sizeBytes;
            continue;
          }
          // Settled at once: a failed copy stops the rest and is thrown below, never left unhandled.
          copies.push(limit(() => copy(entry)).catch((error: unknown) => void (stopped ??= { error })));
        }
      }
      listingDone = true;
      fullBecause = (await previousLoad).fullBecause;
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
    const { missing, escaping } = tally.notFound();
    const problems = [
      mismatches.length ? `${mismatches.length} checksum mismatches` : '',
      missing.length ? `${missing.length} missing files` : '',
      escaping.length ? `${escaping.length} file paths outside the uploads folder` : '',
    ].filter(Boolean);
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
      // Verified means every stored byte was read back and matches, and every document is what the DMS recorded:
      // a snapshot holding a document that no longer matches its checksum is evidence, not a good backup.
      verified: mismatches.length === 0,
      verification: {
        integrity: problems.length ? problems.join(', ') : 'ok',
        hashes_rechecked: true,
        checksum_mismatches: mismatches.sort(),
        missing,
        ...(escaping.length ? { escaping } : {}),
        copied: { files: copiedFiles, bytes: copiedBytes, reused: documents.length - copiedFiles },
        ...(fullBecause ? { full_because: fullBecause } : {}),
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
  lastSnapshot = documents.length <= REMEMBERED_DOCUMENTS_MAX ? { repository: deps.repository.location, id: manifest.id, documents: byPath(documents) } : undefined;
}

// Whether objects a snapshot stored are stored as this run would store them: in clear both, or under the same key.
function sameEncryption(previous: BackupManifest['encryption'], now: BackupManifest['encryption']): boolean {
  return previous?.algorithm === now?.algorithm && previous?.key_fingerprint === now?.key_fingerprint;
}

/** What the previous snapshot tells the next one. */
interface PreviousSnapshot {
  /** Its documents by path: an unchanged file (same size and mtime) is taken from here without being read. */
  documents: Map<string, SnapshotDocument>;
  /** The objects it names: there already, and kept from sweeps while it is the newest snapshot (made when first asked). */
  referenced: () => Set<string>;
  /** Without a previous snapshot: the objects the repository holds anyway (where it can list them), reused, not sent again. */
  present: Set<string>;
  /** Why a catalogued previous snapshot could not be used. */
  fullBecause?: string;
}

async function previousSnapshot(deps: BackupStorageDeps, signal: AbortSignal): Promise<PreviousSnapshot> {
  // Only a snapshot whose objects were last found intact may vouch for files it is not re-reading.
  // Only one encrypted as this one is, too: after DR_BACKUP_KEY is set or changed, every file is stored again.
  const candidate = (await deps.store.listCatalog({ kind: 'storage', limit: 50 })).find(snapshotObjectsProven);
  const latest = candidate && sameEncryption(candidate.encryption, deps.repository.encryption) ? candidate : undefined;
  let documents: Map<string, SnapshotDocument> | undefined;
  let fullBecause: string | undefined;
  if (latest) {
    // The one this process took last is in memory, but its manifest must still be there: a wiped repository, or
    // a new prefix with the old state, would otherwise make the new snapshot name objects that are gone.
    const remembered = lastSnapshot?.id === latest.id && lastSnapshot.repository === deps.repository.location ? lastSnapshot.documents : undefined;
    try {
      if (remembered) {
        if (await deps.repository.hasManifest(latest.id)) documents = remembered;
      } else {
        const manifest = (await deps.repository.readManifest(latest.id)) as BackupManifest;
        documents = byPath(manifest.documents ?? []);
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (!documents) {
      // Gone from the repository: no backup any more. Said so in the catalog, so no restore is offered from it.
      fullBecause = `the manifest of the previous snapshot ${latest.id} is gone from the repository`;
      lastSnapshot = undefined;
      await deps.store.recordBackup({ ...latest, verified: false, verification: { ...latest.verification, damaged: ['manifest missing from the repository'] } });
    }
  }
  if (documents) {
    const named = documents;
    // Only a repository that asks about objects remotely asks this (a local one never does): built then, once.
    let referenced: Set<string> | undefined;
    return { documents, referenced: () => (referenced ??= new Set([...named.values()].map((d) => d.sha256))), present: new Set() };
  }
  const present = (await deps.repository.presentObjects?.(signal)) ?? new Set<string>();
  const none = new Set<string>();
  return { documents: new Map(), referenced: () => none, present, ...(fullBecause ? { fullBecause } : {}) };
}

// A loop, not `new Map(list.map(…))`: no pair array per document.
function byPath(documents: readonly SnapshotDocument[]): Map<string, SnapshotDocument> {
  const map = new Map<string, SnapshotDocument>();
  for (const document of documents) map.set(document.path, document);
  return map;
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
  // Until the checksums arrive: documents this run made, and documents taken over from the previous snapshot.
  private waiting: { own: SnapshotDocument[]; reused: SnapshotDocument[] } = { own: [], reused: [] };
  // Documents the DMS knows: when every one it lists was found, none is missing and no scan is needed.
  private recordedFound = 0;

  /** A file copied (or found stored) by this run. */
  add(entry: DocumentEntry, sha256: string): void {
    this.take({ path: entry.path, size_bytes: entry.sizeBytes, mtime_ms: entry.mtimeMs, sha256, checksum: 'unknown' }, false);
  }

  /**
   * A file the previous snapshot vouches for: its document is taken over as it is when the DMS verdict is the
   * same (nearly always), so an unchanged file costs this run no object and no new path string.
   */
  unchanged(before: SnapshotDocument): void {
    this.take(before, true);
  }

  vanished(): void {
    this.vanishedCount += 1;
  }

  checksumsLoaded(expected: Map<string, RecordedDocument>): void {
    if (this.expected) return;
    this.expected = expected;
    for (const document of this.waiting.own) this.make(expected, document, false);
    for (const document of this.waiting.reused) this.make(expected, document, true);
    this.waiting = { own: [], reused: [] };
  }

  /** Paths the DMS records that the snapshot did not find, and file paths it refused (outside the storage), sorted. */
  notFound(): { missing: string[]; escaping: string[] } {
    const expected = this.expected ?? new Map<string, RecordedDocument>();
    if (this.recordedFound === expected.size) return { missing: [], escaping: [] };
    const found = new Set(this.documents.map((d) => d.path));
    const missing: string[] = [];
    const escaping: string[] = [];
    for (const [path, recorded] of expected) {
      if (recorded.escapes !== undefined) escaping.push(path);
      else if (!found.has(path)) missing.push(path);
    }
    return { missing: missing.sort(), escaping: escaping.sort() };
  }

  private take(document: SnapshotDocument, reusable: boolean): void {
    if (this.expected) this.make(this.expected, document, reusable);
    else (reusable ? this.waiting.reused : this.waiting.own).push(document);
  }

  private make(expected: Map<string, RecordedDocument>, document: SnapshotDocument, reusable: boolean): void {
    const want = expected.get(document.path)?.sha256;
    const checksum = want === undefined ? 'unknown' : want === document.sha256 ? 'ok' : 'mismatch';
    if (want !== undefined) this.recordedFound += 1;
    if (checksum === 'mismatch') this.mismatches.push(document.path);
    if (!reusable) {
      // Made by this run: completed in place.
      document.checksum = checksum;
      this.documents.push(document);
    } else {
      // The previous manifest's document is shared with the remembered snapshot: taken as it is, or copied.
      this.documents.push(document.checksum === checksum ? document : { ...document, checksum });
    }
    this.sizeBytes += document.size_bytes;
  }
}
