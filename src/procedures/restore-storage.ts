import type { BackupManifest } from '../backup/manifest.ts';
import type { ProgressUpdate } from '../commands/types.ts';
import { DrError, errorText } from '../domain/errors.ts';
import type { ReadableBackupRepository } from '../ports/backup-repository.ts';
import type { DocumentChecksums, DocumentHasher, DocumentWriter } from '../ports/dms.ts';
import { mapConcurrent } from './map-concurrent.ts';
import { verifyChecksums, type ChecksumProblem } from './verify-checksums.ts';

/** What is wrong with a document in the live storage. */
export type DocumentProblem = 'missing' | 'damaged' | 'unreadable';

/** A document the snapshot can put back: where it goes, and the content the DMS recorded for it. */
export interface DocumentToRestore {
  id: number;
  path: string;
  sha256: string;
  sizeBytes: number;
  problem: DocumentProblem;
}

/** A document that could not be (or was not) put back, and why. */
export interface DocumentFailure {
  id: number;
  path: string;
  reason: string;
}

/** What a storage restore from one snapshot would do (runbook §3.2: only missing or damaged documents). */
export interface StorageRepairPlan {
  snapshotId: string;
  toRestore: DocumentToRestore[];
  /** Damaged or missing documents whose recorded content the snapshot does not hold. */
  unrecoverable: Array<DocumentFailure & { problem: DocumentProblem }>;
  /** Documents hashed to find the problems. */
  checked: number;
  ms: number;
}

/** What writing documents back did. */
export interface WriteBackReport {
  written: number;
  bytes: number;
  failed: DocumentFailure[];
  ms: number;
}

/**
 * Hashes every document the DMS lists and, for each one missing or not matching `documents.checksum_sha256`,
 * finds the snapshot object holding the recorded content. Objects are keyed by SHA-256, so any snapshot
 * document with that content will do, whatever its path was.
 */
export async function planStorageRepair(
  deps: { checksums: DocumentChecksums; hasher: DocumentHasher; concurrency: number; progress?: (update: ProgressUpdate) => void },
  snapshot: BackupManifest,
): Promise<StorageRepairPlan> {
  if (snapshot.kind !== 'storage' || !snapshot.documents) throw new DrError('RESTORE_FAILED', `${snapshot.id} is not a storage snapshot`);
  const started = Date.now();
  const report = await verifyChecksums(deps);
  const sizeByContent = new Map(snapshot.documents.map((d) => [d.sha256, d.size_bytes]));
  const snapshotPaths = new Map(snapshot.documents.map((d) => [d.path, d.sha256]));
  const toRestore: DocumentToRestore[] = [];
  const unrecoverable: StorageRepairPlan['unrecoverable'] = [];
  for (const found of report.problems) {
    const problem = problemOf(found);
    const sizeBytes = sizeByContent.get(found.expected);
    if (sizeBytes !== undefined) {
      toRestore.push({ id: found.id, path: found.path, sha256: found.expected, sizeBytes, problem });
      continue;
    }
    const held = snapshotPaths.get(found.path);
    // A snapshot taken after the damage holds the damaged bytes: worth saying, so an older snapshot gets tried.
    const reason = held
      ? `${snapshot.id} holds this file only with other content (SHA-256 ${held.slice(0, 12)}…), not the recorded ${found.expected.slice(0, 12)}…`
      : `${snapshot.id} holds no copy of its recorded content (SHA-256 ${found.expected.slice(0, 12)}…)`;
    unrecoverable.push({ id: found.id, path: found.path, reason, problem });
  }
  return { snapshotId: snapshot.id, toRestore, unrecoverable, checked: report.checked, ms: Date.now() - started };
}

/**
 * Copies each document from its snapshot object into the storage, a bounded number at once. The writer
 * checks every byte against the recorded SHA-256, so a damaged object is refused, reported, and never
 * written; one failure does not stop the others.
 */
export async function writeBackDocuments(
  deps: {
    repository: Pick<ReadableBackupRepository, 'openObject'>;
    writer: DocumentWriter;
    concurrency: number;
    progress?: (update: ProgressUpdate) => void;
  },
  toRestore: readonly DocumentToRestore[],
): Promise<WriteBackReport> {
  const started = Date.now();
  const bytesTotal = toRestore.reduce((sum, d) => sum + d.sizeBytes, 0);
  const failed: DocumentFailure[] = [];
  let written = 0;
  let bytes = 0;
  let done = 0;
  let bytesDone = 0;
  await mapConcurrent(toRestore, deps.concurrency, async (document) => {
    try {
      const content = await deps.repository.openObject(document.sha256);
      await deps.writer.write(document.path, content, { sha256: document.sha256, sizeBytes: document.sizeBytes });
      written += 1;
      bytes += document.sizeBytes;
    } catch (error) {
      failed.push({ id: document.id, path: document.path, reason: errorText(error) });
    }
    done += 1;
    // Failed documents count as done too, so the bar reaches its end.
    bytesDone += document.sizeBytes;
    deps.progress?.({ step: `write back documents (${done} of ${toRestore.length})`, bytesDone, bytesTotal });
  });
  failed.sort((a, b) => a.id - b.id);
  return { written, bytes, failed, ms: Date.now() - started };
}

function problemOf(found: ChecksumProblem): DocumentProblem {
  if (found.actual === 'missing') return 'missing';
  return /^[0-9a-f]{64}$/.test(found.actual) ? 'damaged' : 'unreadable';
}
