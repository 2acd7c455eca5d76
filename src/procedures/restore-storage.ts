import type { BackupManifest } from '../backup/manifest.ts';
import type { ProgressUpdate } from '../commands/types.ts';
import { DrError } from '../domain/errors.ts';
import type { ReadableBackupRepository } from '../ports/backup-repository.ts';
import type { DocumentChecksums, DocumentHasher, DocumentStore, DocumentWriter, StorageFacts } from '../ports/dms.ts';
import type { StateStore } from '../ports/state-store.ts';
import { sealPlan, type Plan } from '../domain/plan.ts';
import { formatBytes } from '../domain/format.ts';
import { type RunSpec, runOriginFields } from './engine.ts';
import { backupPointInTime, chooseBackup, expectedDurationMs, plannedBackup } from './plan-helpers.ts';
import { mapConcurrent } from '../domain/concurrency.ts';
import { CONTENT_DIFFERS, verifyChecksums, type ChecksumProblem } from './verify-checksums.ts';
import { failureDetail, failureLines, failureReason, groupFailures } from '../domain/document-failures.ts';
import { ESCAPES_REASON } from '../domain/document-paths.ts';

/** What is wrong with a document in the live storage. */
export type DocumentProblem = 'missing' | 'damaged' | 'unreadable';

/** A document a snapshot can put back: where it goes, the content the DMS recorded for it, and the snapshot holding it. */
export interface DocumentToRestore {
  id: number;
  path: string;
  sha256: string;
  sizeBytes: number;
  problem: DocumentProblem;
  /** The newest snapshot searched that holds the recorded content. */
  snapshotId: string;
}

/** A document that could not be (or was not) put back: the reason its group shares, and this one's detail. */
export interface DocumentFailure {
  id: number;
  path: string;
  /** Path-free (`permission denied`, `not in any snapshot`): failures are grouped by it. */
  reason: string;
  detail: string;
}

/** The reason of a document whose recorded content no snapshot searched holds. */
export const NOT_IN_ANY_SNAPSHOT = 'not in any snapshot';

/** What a storage restore would do (runbook §3.2: only missing or damaged documents), and from which snapshots. */
export interface StorageRepairPlan {
  /** The snapshot chosen: the newest one searched. */
  snapshotId: string;
  toRestore: DocumentToRestore[];
  /** Damaged or missing documents no snapshot can put back: their content was never stored, or their path is refused. */
  unrecoverable: Array<DocumentFailure & { problem: DocumentProblem }>;
  /** Snapshots read to find the documents, newest first. */
  searched: string[];
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
 * finds the newest snapshot holding the recorded content: `snapshots` come newest first and are read only
 * while documents remain unfound, so a snapshot taken after the damage (holding the damaged bytes) hands over
 * to an older one. Objects are keyed by SHA-256, so any snapshot document with that content will do, whatever
 * its path was.
 */
export async function planStorageRepair(
  deps: { checksums: DocumentChecksums; hasher: DocumentHasher; concurrency: number; progress?: (update: ProgressUpdate) => void },
  snapshots: Iterable<BackupManifest> | AsyncIterable<BackupManifest>,
): Promise<StorageRepairPlan> {
  const started = Date.now();
  const report = await verifyChecksums(deps);
  const toRestore: DocumentToRestore[] = [];
  const unrecoverable: StorageRepairPlan['unrecoverable'] = [];
  let pending: ChecksumProblem[] = [];
  for (const found of report.problems) {
    // A path outside the storage is never written, whatever a snapshot holds.
    if (found.reason === ESCAPES_REASON) unrecoverable.push({ id: found.id, path: found.path, problem: problemOf(found), reason: found.reason, detail: found.actual });
    else pending.push(found);
  }
  const searched: string[] = [];
  for await (const snapshot of snapshots) {
    if (snapshot.kind !== 'storage' || !snapshot.documents) throw new DrError('RESTORE_FAILED', `${snapshot.id} is not a storage snapshot`);
    searched.push(snapshot.id);
    if (pending.length === 0) break;
    const sizeByContent = new Map(snapshot.documents.map((d) => [d.sha256, d.size_bytes]));
    pending = pending.filter((found) => {
      const sizeBytes = sizeByContent.get(found.expected);
      if (sizeBytes === undefined) return true;
      toRestore.push({ id: found.id, path: found.path, sha256: found.expected, sizeBytes, problem: problemOf(found), snapshotId: snapshot.id });
      return false;
    });
    if (pending.length === 0) break;
  }
  for (const found of pending) {
    const where = searched.length === 1 ? searched[0]! : `${searched.length} snapshots, ${searched.at(-1) ?? '-'} to ${searched[0] ?? '-'}`;
    unrecoverable.push({ id: found.id, path: found.path, problem: problemOf(found), reason: NOT_IN_ANY_SNAPSHOT, detail: `recorded content (SHA-256 ${found.expected.slice(0, 12)}…) is in none of ${where}` });
  }
  toRestore.sort((a, b) => a.id - b.id);
  unrecoverable.sort((a, b) => a.id - b.id);
  return { snapshotId: searched[0] ?? '', toRestore, unrecoverable, searched, checked: report.checked, ms: Date.now() - started };
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
      failed.push({ id: document.id, path: document.path, reason: failureReason(error), detail: failureDetail(error) });
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
  return found.reason === CONTENT_DIFFERS ? 'damaged' : 'unreadable';
}

/** Documents written back from each snapshot, the one used most first. */
export function restoredFrom(toRestore: readonly DocumentToRestore[]): Array<{ snapshot: string; count: number; ids: number[] }> {
  return groupFailures(toRestore.map((d) => ({ id: d.id, reason: d.snapshotId }))).map((g) => ({ snapshot: g.reason, count: g.count, ids: g.ids }));
}

/** What `restore storage` needs as a gated procedure. */
export interface RestoreStorageDeps {
  store: StateStore;
  repository: Pick<ReadableBackupRepository, 'openObject' | 'readManifest'>;
  storage: DocumentStore;
  checksums: DocumentChecksums;
  /** A hasher for one run (closed when the run ends). */
  openHasher: () => DocumentHasher;
  writer: DocumentWriter;
  concurrency: number;
  now: () => Date;
}

/** The steps of `restore storage`, in order (restore all reuses them). */
export const RESTORE_STORAGE_STEPS = [
  'check storage health',
  'find missing or damaged documents',
  'write them back from the snapshot',
  'check every document against the database',
] as const;

/** The plan of `restore storage [latest|ID]` (runbook §3.2): only missing or damaged documents are written back. */
export async function planRestoreStorage(deps: RestoreStorageDeps, choice: string): Promise<Plan> {
  const snapshot = await chooseBackup(deps.store, 'storage', choice);
  const now = deps.now();
  const expected = await expectedDurationMs(deps.store, ['restore-storage']);
  return sealPlan({
    procedure: 'restore-storage',
    gate: 'restore',
    title: `Restore missing or damaged documents from ${snapshot.id}`,
    target: deps.storage.location,
    steps: [...RESTORE_STORAGE_STEPS],
    backups: [plannedBackup(snapshot)],
    notes: [
      'Documents that match their recorded SHA-256 are not touched; every written file is checked byte for byte before it replaces anything.',
      `A document whose recorded content is not in ${snapshot.id} is taken from the newest older snapshot that holds it (one taken after the damage holds only the damaged bytes).`,
      `A document uploaded after ${backupPointInTime(snapshot)} and lost since is in no snapshot; the run names each one. Nothing else is lost: only missing or damaged files are written.`,
    ],
    request: { backup: choice },
    input: { backupId: snapshot.id },
    madeAt: now.toISOString(),
    ...(expected !== undefined ? { expectedDurationMs: expected } : {}),
  });
}

interface RestoreStorageContext {
  /** The uploads folder was gone and the run made it. */
  recreatedRoot?: boolean;
  repair?: StorageRepairPlan;
  writeBack?: WriteBackReport;
  remaining?: ChecksumProblem[];
}

/** The steps of a confirmed `restore storage` plan. */
export function restoreStorageRun(deps: RestoreStorageDeps, plan: Plan, origin: { actor: string; gateId?: string; channel?: string; messageTs?: string }): RunSpec<RestoreStorageContext> {
  const context: RestoreStorageContext = {};
  const withHasher = async <T>(use: (hasher: DocumentHasher) => Promise<T>): Promise<T> => {
    const hasher = deps.openHasher();
    try {
      return await use(hasher);
    } finally {
      await hasher.close();
    }
  };
  const grouped = (items: ReadonlyArray<{ id: number; reason: string }>) => failureLines(groupFailures(items)).join('; ');
  return {
    procedure: 'restore-storage',
    actor: origin.actor,
    ...runOriginFields(origin),
    context,
    steps: [
      {
        name: RESTORE_STORAGE_STEPS[0],
        run: async (ctx, signal) => {
          let facts: StorageFacts;
          try {
            facts = await deps.storage.probe(signal);
          } catch (error) {
            // A lost uploads volume is exactly when this restore is needed: the folder is made again, then filled.
            if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || !deps.writer.ensureRoot || !(await deps.writer.ensureRoot())) throw error;
            ctx.recreatedRoot = true;
            facts = await deps.storage.probe(signal);
          }
          if (facts.kind === 's3') return `bucket ${facts.bucket} reachable`;
          if (facts.freeBytes === 0) throw new DrError('RESTORE_FAILED', `${facts.path} is full (${facts.usedPct.toFixed(1)} % used): nothing could be written back`);
          if (ctx.recreatedRoot) return `${facts.path} did not exist: created it (empty, ${facts.usedPct.toFixed(1)} % of its disk used); every document will be written back`;
          return `${facts.path}: ${facts.usedPct.toFixed(1)} % used, ${facts.fileCount} files`;
        },
      },
      {
        name: RESTORE_STORAGE_STEPS[1],
        run: async (ctx) => {
          ctx.repair = await withHasher((hasher) => planStorageRepair({ checksums: deps.checksums, hasher, concurrency: deps.concurrency }, candidateSnapshots(deps, plan.input.backupId!)));
          const { toRestore, unrecoverable, checked } = ctx.repair;
          const missing = toRestore.filter((d) => d.problem === 'missing').length;
          const from = toRestore.length ? ` (${restoredFrom(toRestore).map((g) => `${g.count} from ${g.snapshot}`).join(', ')})` : '';
          const lost = unrecoverable.length ? `; ${unrecoverable.length} cannot be restored: ${grouped(unrecoverable)}` : '';
          return `${checked} documents checked: ${missing} missing, ${toRestore.length - missing} damaged or unreadable to write back${from}${lost}`;
        },
      },
      {
        name: RESTORE_STORAGE_STEPS[2],
        run: async (ctx) => {
          ctx.writeBack = await writeBackDocuments({ repository: deps.repository, writer: deps.writer, concurrency: deps.concurrency }, ctx.repair!.toRestore);
          const failed = ctx.writeBack.failed.length ? `; ${ctx.writeBack.failed.length} failed: ${grouped(ctx.writeBack.failed)}` : '';
          return `${ctx.writeBack.written} documents written back (${formatBytes(ctx.writeBack.bytes)})${failed}`;
        },
      },
      {
        name: RESTORE_STORAGE_STEPS[3],
        run: async (ctx) => {
          const report = await withHasher((hasher) => verifyChecksums({ checksums: deps.checksums, hasher, concurrency: deps.concurrency }));
          ctx.remaining = report.problems;
          if (report.problems.length > 0) {
            throw new DrError('RESTORE_FAILED', `${report.problems.length} of ${report.checked} documents still do not match their recorded SHA-256: ${grouped(stillWrong(ctx))}`);
          }
          return `all ${report.checked} documents match their recorded SHA-256`;
        },
      },
    ],
    // No data-loss window: a write-back replaces only missing or damaged files and loses nothing (that figure is
    // for database restores); what no snapshot holds is listed by document instead.
    summarize: (ctx) => ({
      backupId: plan.input.backupId,
      ...(ctx.recreatedRoot ? { recreatedRoot: true } : {}),
      ...(ctx.writeBack ? { written: ctx.writeBack.written, writtenBytes: ctx.writeBack.bytes, restoredDocuments: ctx.repair!.toRestore.map((d) => d.id) } : {}),
      ...(ctx.repair?.toRestore.length ? { restoredFrom: restoredFrom(ctx.repair.toRestore) } : {}),
      ...(ctx.writeBack?.failed.length ? { writeBackFailed: groupFailures(ctx.writeBack.failed) } : {}),
      ...(ctx.repair?.unrecoverable.length ? { unrecoverable: groupFailures(ctx.repair.unrecoverable) } : {}),
      ...(ctx.remaining?.length ? { mismatches: groupFailures(stillWrong(ctx)) } : {}),
    }),
  };
}

// The documents still wrong after the write-back, each with the reason it was not repaired when one is known.
function stillWrong(ctx: RestoreStorageContext): Array<{ id: number; reason: string }> {
  const why = new Map<number, string>();
  for (const d of ctx.repair?.unrecoverable ?? []) why.set(d.id, d.reason);
  for (const d of ctx.writeBack?.failed ?? []) why.set(d.id, `not written back: ${d.reason}`);
  return (ctx.remaining ?? []).map((p) => ({ id: p.id, reason: why.get(p.id) ?? p.reason }));
}

/**
 * The snapshots a restore searches, newest first: the chosen one, then every older storage snapshot in the
 * catalog (verified or not: each written file is checked against its recorded SHA-256 anyway). Each manifest
 * is read only when documents remain unfound; one that cannot be read any more is passed over.
 */
async function* candidateSnapshots(deps: Pick<RestoreStorageDeps, 'store' | 'repository'>, chosenId: string): AsyncIterable<BackupManifest> {
  // The catalog keeps manifests without their document lists; the repository has the whole one.
  const chosen = (await deps.repository.readManifest(chosenId)) as BackupManifest;
  yield chosen;
  const older = (await deps.store.listCatalog({ kind: 'storage', limit: 10_000 })).filter((m) => m.id !== chosenId && m.finished_at < chosen.finished_at);
  for (const summary of older) {
    let manifest: BackupManifest;
    try {
      manifest = (await deps.repository.readManifest(summary.id)) as BackupManifest;
    } catch {
      continue;
    }
    yield manifest;
  }
}
