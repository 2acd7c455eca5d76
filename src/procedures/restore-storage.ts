import type { BackupManifest } from '../backup/manifest.ts';
import type { ProgressUpdate } from '../commands/types.ts';
import { DrError, errorText } from '../domain/errors.ts';
import type { ReadableBackupRepository } from '../ports/backup-repository.ts';
import type { DocumentChecksums, DocumentHasher, DocumentStore, DocumentWriter } from '../ports/dms.ts';
import type { StateStore } from '../ports/state-store.ts';
import { sealPlan, type Plan } from '../domain/plan.ts';
import { formatBytes } from '../domain/format.ts';
import { type RunSpec, runOriginFields } from './engine.ts';
import { backupPointInTime, chooseBackup, expectedDurationMs, plannedBackup } from './plan-helpers.ts';
import { mapConcurrent } from '../domain/concurrency.ts';
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
      'A document added after the snapshot and lost since cannot be restored from it; the run names each one.',
    ],
    request: { backup: choice },
    input: { backupId: snapshot.id },
    madeAt: now.toISOString(),
    dataLossWindowMs: now.getTime() - Date.parse(backupPointInTime(snapshot)),
    ...(expected !== undefined ? { expectedDurationMs: expected } : {}),
  });
}

interface RestoreStorageContext {
  snapshot?: BackupManifest;
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
  const listed = (items: ReadonlyArray<{ id: number }>) => items.slice(0, 20).map((d) => d.id).join(', ') + (items.length > 20 ? ` and ${items.length - 20} more` : '');
  return {
    procedure: 'restore-storage',
    actor: origin.actor,
    ...runOriginFields(origin),
    context,
    steps: [
      {
        name: RESTORE_STORAGE_STEPS[0],
        run: async (_ctx, signal) => {
          const facts = await deps.storage.probe(signal);
          if (facts.kind === 's3') return `bucket ${facts.bucket} reachable`;
          if (facts.freeBytes === 0) throw new DrError('RESTORE_FAILED', `${facts.path} is full (${facts.usedPct.toFixed(1)} % used): nothing could be written back`);
          return `${facts.path}: ${facts.usedPct.toFixed(1)} % used, ${facts.fileCount} files`;
        },
      },
      {
        name: RESTORE_STORAGE_STEPS[1],
        run: async (ctx) => {
          // The catalog keeps manifests without their document lists; the repository has the whole one.
          const snapshot = (await deps.repository.readManifest(plan.input.backupId!)) as BackupManifest;
          ctx.snapshot = snapshot;
          ctx.repair = await withHasher((hasher) => planStorageRepair({ checksums: deps.checksums, hasher, concurrency: deps.concurrency }, snapshot));
          const missing = ctx.repair.toRestore.filter((d) => d.problem === 'missing').length;
          const unrecoverable = ctx.repair.unrecoverable.length ? `; ${ctx.repair.unrecoverable.length} NOT in the snapshot (documents ${listed(ctx.repair.unrecoverable)})` : '';
          return `${ctx.repair.checked} documents checked: ${missing} missing, ${ctx.repair.toRestore.length - missing} damaged or unreadable to write back${unrecoverable}`;
        },
      },
      {
        name: RESTORE_STORAGE_STEPS[2],
        run: async (ctx) => {
          ctx.writeBack = await writeBackDocuments({ repository: deps.repository, writer: deps.writer, concurrency: deps.concurrency }, ctx.repair!.toRestore);
          const failed = ctx.writeBack.failed.length ? `; ${ctx.writeBack.failed.length} failed (documents ${listed(ctx.writeBack.failed)})` : '';
          return `${ctx.writeBack.written} documents written back (${formatBytes(ctx.writeBack.bytes)})${failed}`;
        },
      },
      {
        name: RESTORE_STORAGE_STEPS[3],
        run: async (ctx) => {
          const report = await withHasher((hasher) => verifyChecksums({ checksums: deps.checksums, hasher, concurrency: deps.concurrency }));
          ctx.remaining = report.problems;
          if (report.problems.length > 0) {
            throw new DrError('RESTORE_FAILED', `${report.problems.length} of ${report.checked} documents still do not match their recorded SHA-256: ${listed(report.problems)}`);
          }
          return `all ${report.checked} documents match their recorded SHA-256`;
        },
      },
    ],
    summarize: (ctx) => ({
      backupId: plan.input.backupId,
      ...(ctx.snapshot ? { backupPointInTime: backupPointInTime(ctx.snapshot), dataLossWindowMs: Date.parse(plan.madeAt) - Date.parse(backupPointInTime(ctx.snapshot)) } : {}),
      ...(ctx.writeBack ? { written: ctx.writeBack.written, writtenBytes: ctx.writeBack.bytes, restoredDocuments: ctx.repair!.toRestore.map((d) => d.id) } : {}),
      ...(ctx.repair?.unrecoverable.length ? { unrecoverable: ctx.repair.unrecoverable.map((d) => d.id) } : {}),
      ...(ctx.remaining?.length ? { mismatches: ctx.remaining.map((p) => p.id) } : {}),
    }),
  };
}
