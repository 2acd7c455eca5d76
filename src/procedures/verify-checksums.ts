import type { ProgressUpdate } from '../commands/types.ts';
import type { DocumentChecksums, DocumentHasher } from '../ports/dms.ts';
import { mapConcurrent } from '../domain/concurrency.ts';
import { failureReason } from '../domain/document-failures.ts';
import { ESCAPES_REASON } from '../domain/document-paths.ts';
import { isStoreUnavailable } from '../domain/errors.ts';

/** A document whose content is not what the DMS recorded, or that is gone. */
export interface ChecksumProblem {
  id: number;
  path: string;
  expected: string;
  /** The SHA-256 found, or `missing` / the read error. */
  actual: string;
  /** Path-free, shared by every document with the same problem (failures are grouped by it). */
  reason: string;
}

/** The reason of a document whose bytes are there but are not the recorded ones. */
export const CONTENT_DIFFERS = 'content differs from the recorded SHA-256';

/** What `verify checksums` found. */
export interface ChecksumReport {
  checked: number;
  bytes: number;
  problems: ChecksumProblem[];
  ms: number;
}

/**
 * Hashes every document the DMS lists and compares it with `documents.checksum_sha256` (runbook §3.2, all of
 * them, not 100). A problem of the whole store stops it with that one error (STORE_UNAVAILABLE).
 */
export async function verifyChecksums(
  deps: { checksums: DocumentChecksums; hasher: DocumentHasher; concurrency: number; progress?: (update: ProgressUpdate) => void },
): Promise<ChecksumReport> {
  const started = Date.now();
  const documents = [...(await deps.checksums.load())];
  const problems: ChecksumProblem[] = [];
  let bytes = 0;
  let checked = 0;
  await mapConcurrent(documents, deps.concurrency, async ([path, recorded]) => {
    try {
      // A file path outside the storage is never opened: it is reported, with the path the DMS holds.
      if (recorded.escapes !== undefined) throw Object.assign(new Error(recorded.escapes), { code: 'EESCAPE' });
      const found = await deps.hasher.hash(path);
      bytes += found.sizeBytes;
      if (found.sha256 !== recorded.sha256) problems.push({ id: recorded.id, path, expected: recorded.sha256, actual: found.sha256, reason: CONTENT_DIFFERS });
    } catch (error) {
      // The whole store failing (a bucket gone, credentials refused, no answer) is one error, not N damaged documents.
      if (isStoreUnavailable(error)) throw error;
      const reason = failureReason(error);
      const actual = reason === 'missing' ? 'missing' : reason === ESCAPES_REASON ? `unreadable (${(error as Error).message})` : `unreadable (${reason})`;
      problems.push({ id: recorded.id, path, expected: recorded.sha256, actual, reason });
    }
    checked += 1;
    deps.progress?.({ step: `verify checksums (${checked} of ${documents.length} documents)`, bytesDone: bytes });
  });
  problems.sort((a, b) => a.id - b.id);
  return { checked, bytes, problems, ms: Date.now() - started };
}
