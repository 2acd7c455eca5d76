import type { BackupManifest, RestoreTest } from '../backup/manifest.ts';
import { DrError, errorText } from '../domain/errors.ts';
import { formatBytes } from '../domain/format.ts';
import type { LocalBackupFile, ReadableBackupRepository, WritableBackupRepository } from '../ports/backup-repository.ts';
import type { DatabaseRef, DatabaseRestorer, DmsDatabase } from '../ports/dms.ts';
import type { StateStore } from '../ports/state-store.ts';
import { withDeadline } from './deadline.ts';
import type { RunSpec, StepDefinition } from './engine.ts';
import { chooseBackup, runLabel } from './plan-helpers.ts';
import { sha256OfFile } from '../backup/file-hash.ts';

/** The rows the runbook counts after a restore (§4.1). */
export interface RowCounts {
  documents: number;
  users: number;
  tenants: number;
}

/** What restoring a database backup into a scratch database needs. */
export interface ScratchRestoreDeps {
  repository: Pick<ReadableBackupRepository, 'localFile'>;
  restorer: DatabaseRestorer;
}

/** One database backup on its way through a scratch restore (`verify backup` and `drill` share the steps). */
export interface ScratchRestore {
  backup: BackupManifest;
  dumpFile?: LocalBackupFile;
  scratch?: DatabaseRef;
  /** What the restored copy holds, once checked. */
  counts?: RowCounts;
  /** Why the backup itself failed (damaged, does not restore, wrong counts); unset when something else went wrong. */
  fault?: string;
  /** The stored file no longer matches its manifest, named as a repository check names damage. */
  damaged?: string;
}

/** The four steps of a scratch restore: fetch and check the SHA-256, restore beside the live database, check, drop. */
export interface ScratchRestoreSteps {
  fetch: StepDefinition<ScratchRestore>;
  restore: StepDefinition<ScratchRestore>;
  check: StepDefinition<ScratchRestore>;
  drop: StepDefinition<ScratchRestore>;
}

/** Builds the scratch-restore steps; `label` names the scratch database (`<live>.restore-<label>`, `<db>_restore_<label>`). */
export function scratchRestoreSteps(deps: ScratchRestoreDeps, label: string): ScratchRestoreSteps {
  return {
    fetch: {
      name: 'fetch the backup and check its SHA-256',
      run: async (s) => {
        const file = s.backup.files[0];
        if (!file) throw fault(s, `${s.backup.id} has no file in its manifest`);
        try {
          s.dumpFile = await deps.repository.localFile(file.key);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
          s.damaged = `${file.key}: missing from the repository`;
          throw fault(s, `${s.backup.id} is damaged: ${s.damaged}`);
        }
        const actual = await sha256OfFile(s.dumpFile.path);
        if (actual !== file.sha256) {
          s.damaged = `${file.key}: SHA-256 is ${actual.slice(0, 12)}…, the manifest says ${file.sha256.slice(0, 12)}…`;
          throw fault(s, `${s.backup.id} is damaged: ${s.damaged}`);
        }
        return `${s.backup.id}, ${formatBytes(file.size_bytes)}, SHA-256 matches the manifest`;
      },
    },
    restore: {
      name: 'restore it into a scratch database',
      run: async (s, signal) => {
        try {
          s.scratch = await deps.restorer.restoreToScratch(s.dumpFile!.path, label, signal);
        } catch (error) {
          // The runbook's test is exactly this: a backup that does not restore is not a backup.
          throw fault(s, `${s.backup.id} does not restore: ${errorText(error)}`);
        } finally {
          await releaseDump(s);
        }
        return s.scratch.location;
      },
    },
    check: {
      name: 'check integrity and counts against the manifest',
      run: async (s, signal) => {
        const found = await deps.restorer.inspect(s.scratch!, signal);
        if (found.integrity !== 'ok') throw fault(s, `the restored copy of ${s.backup.id} fails its integrity check: ${found.integrity}`);
        const recorded = s.backup.verification.counts;
        if (recorded && !sameCounts(recorded, found.counts)) {
          throw fault(s, `the restored copy of ${s.backup.id} holds ${describeCounts(found.counts)}; its manifest recorded ${describeCounts(recorded)}`);
        }
        s.counts = found.counts;
        return `integrity ok; ${describeCounts(found.counts)}${recorded ? ', equal to the manifest' : ` (the manifest recorded no counts: ${s.backup.verification.counts_unavailable ?? 'reason not recorded'})`}`;
      },
    },
    drop: {
      name: 'drop the scratch database',
      run: async (s) => {
        const where = s.scratch!.location;
        await deps.restorer.drop(s.scratch!);
        delete s.scratch;
        return `removed ${where}`;
      },
    },
  };
}

/** After a failure: frees the fetched file and drops the scratch database; returns lines for the summary, never throws. */
export async function cleanUpScratchRestore(deps: ScratchRestoreDeps, s: ScratchRestore | undefined): Promise<string[]> {
  if (!s) return [];
  const notes: string[] = [];
  await releaseDump(s);
  if (s.scratch) {
    const where = s.scratch.location;
    await deps.restorer.drop(s.scratch).then(
      () => notes.push(`removed the scratch database ${where}`),
      (error: unknown) => notes.push(`could NOT remove the scratch database ${where}: ${errorText(error)}`),
    );
    delete s.scratch;
  }
  return notes;
}

/** What `verify backup` needs: the scratch restore, the live database to count, and where the result is recorded. */
export interface VerifyBackupDeps extends ScratchRestoreDeps {
  store: StateStore;
  repository: Pick<WritableBackupRepository, 'localFile' | 'readManifest' | 'writeManifest'>;
  /** The live DMS database, counted beside the restored copy. */
  live: DmsDatabase;
  /** How long counting the live database may take. */
  liveTimeoutMs: number;
  now: () => Date;
}

/** The steps of `verify backup`, in order (runbook §4.1). */
export const VERIFY_BACKUP_STEPS = [
  'fetch the backup and check its SHA-256',
  'restore it into a scratch database',
  'check integrity and counts against the manifest',
  'count the live database and compare',
  'drop the scratch database',
  'record the result on the backup',
] as const;

/** The backup `verify backup [ID]` tests: the newest verified database backup, or the one named; refused (nothing run) otherwise. */
export async function chooseBackupToVerify(deps: Pick<VerifyBackupDeps, 'store' | 'restorer'>, choice: string): Promise<BackupManifest> {
  const backup = await chooseBackup(deps.store, 'db', choice);
  if (backup.source.engine !== deps.restorer.engine) {
    throw new DrError('BACKUP_NOT_FOUND', `${backup.id} is a ${backup.source.engine ?? 'unknown'} backup and the live database is ${deps.restorer.engine}: it cannot be restored here. Nothing was run.`);
  }
  return backup;
}

/** What a verify run carries from step to step. */
interface VerifyBackupContext {
  db: ScratchRestore;
  live?: RowCounts;
  /** The reason of the step that failed, for the recorded result. */
  failure?: string;
  recorded?: RestoreTest;
  markedUnverified?: boolean;
}

/**
 * The steps of `verify backup`: restore into a scratch database, check it against its manifest, count it
 * beside the live database (which may have grown: reported, never a failure), drop the scratch, and record
 * the result on the backup. A backup that fails is marked unverified: it is no longer offered for restores
 * nor counted towards the RPO.
 */
export function verifyBackupRun(deps: VerifyBackupDeps, backup: BackupManifest, origin: { actor: string }): RunSpec<VerifyBackupContext> {
  const label = runLabel(deps.now());
  const scratch = scratchRestoreSteps(deps, label);
  const onDb = (step: StepDefinition<ScratchRestore>, name: string): StepDefinition<VerifyBackupContext> => ({ name, run: (ctx, signal) => step.run(ctx.db, signal) });
  const steps: StepDefinition<VerifyBackupContext>[] = [
    onDb(scratch.fetch, VERIFY_BACKUP_STEPS[0]),
    onDb(scratch.restore, VERIFY_BACKUP_STEPS[1]),
    onDb(scratch.check, VERIFY_BACKUP_STEPS[2]),
    {
      name: VERIFY_BACKUP_STEPS[3],
      run: async (ctx) => {
        const facts = await withDeadline(deps.liveTimeoutMs, (signal) => deps.live.probe(signal));
        ctx.live = facts.counts;
        const integrity = facts.integrity === 'ok' ? '' : `; ⚠️ the live database fails its own integrity check: ${facts.integrity}`;
        return `live: ${describeCounts(facts.counts)} (${describeGrowth(ctx.db.counts!, facts.counts)})${integrity}`;
      },
    },
    onDb(scratch.drop, VERIFY_BACKUP_STEPS[4]),
    {
      name: VERIFY_BACKUP_STEPS[5],
      run: async (ctx) => {
        const test = restoreTestOf(ctx, deps.now())!;
        const note = await recordRestoreTest(deps, ctx, test);
        return `${backup.id}: restore test passed${note ? `; ${note}` : ''}`;
      },
    },
  ];
  return {
    procedure: 'verify-backup',
    actor: origin.actor,
    leftovers: { scratchLabel: label },
    context: { db: { backup } },
    steps: steps.map(rememberingFailure),
    onFailure: async (ctx, failedStep) => {
      const notes = await cleanUpScratchRestore(deps, ctx.db);
      if (failedStep === VERIFY_BACKUP_STEPS[5]) return [...notes, `the result could not be recorded on ${backup.id}`];
      const test = restoreTestOf(ctx, deps.now());
      if (!test) return [...notes, `${backup.id} keeps its verification: the test stopped before it could judge the backup`];
      try {
        const note = await recordRestoreTest(deps, ctx, test);
        notes.push(test.ok ? `${backup.id} restored correctly; its restore test is recorded as passed` : `${backup.id} is now marked unverified: a backup that does not restore is not a backup`);
        if (note) notes.push(note);
      } catch (error) {
        notes.push(`could not record the result on ${backup.id}: ${errorText(error)}`);
      }
      return notes;
    },
    summarize: (ctx) => ({
      backupId: backup.id,
      ...(ctx.db.counts ? { counts: ctx.db.counts } : {}),
      ...(ctx.live ? { liveCounts: ctx.live } : {}),
      ...(ctx.recorded ? { restoreTest: { ok: ctx.recorded.ok, detail: ctx.recorded.detail } } : {}),
      ...(ctx.markedUnverified ? { markedUnverified: true } : {}),
    }),
  };
}

// The engine tells onFailure which step failed, not why: the recorded result needs the why.
function rememberingFailure(step: StepDefinition<VerifyBackupContext>): StepDefinition<VerifyBackupContext> {
  return {
    name: step.name,
    run: async (ctx, signal) => {
      try {
        return await step.run(ctx, signal);
      } catch (error) {
        ctx.failure = errorText(error);
        throw error;
      }
    },
  };
}

/** The result to record, or undefined when the run stopped before it could judge the backup (the repository unreachable, say). */
function restoreTestOf(ctx: VerifyBackupContext, at: Date): RestoreTest | undefined {
  const counts = ctx.db.counts ? { counts: ctx.db.counts } : {};
  const live = ctx.live ? { live_counts: ctx.live } : {};
  if (ctx.db.fault) return { at: at.toISOString(), ok: false, ...counts, ...live, detail: ctx.db.fault };
  if (!ctx.db.counts) return undefined;
  const compared = ctx.live ? `; live: ${describeCounts(ctx.live)} (${describeGrowth(ctx.db.counts, ctx.live)})` : '';
  const after = ctx.failure ? `; afterwards: ${ctx.failure}` : '';
  return { at: at.toISOString(), ok: true, ...counts, ...live, detail: `restored into a scratch database: integrity ok, ${describeCounts(ctx.db.counts)}${compared}${after}` };
}

/**
 * Writes the result into the backup's manifest (the repository's copy first, so a catalog rebuilt from the
 * repository keeps it) and its catalog entry; a failed test marks the backup unverified. Returns a note when
 * the repository's copy could not be updated.
 */
async function recordRestoreTest(deps: VerifyBackupDeps, ctx: VerifyBackupContext, test: RestoreTest): Promise<string | undefined> {
  const id = ctx.db.backup.id;
  // Only a manifest still in the repository is rewritten: one pruned meanwhile must not come back.
  const stored = (await deps.repository.readManifest(id).catch(() => undefined)) as BackupManifest | undefined;
  const base = stored ?? ctx.db.backup;
  const damaged = ctx.db.damaged ? { damaged: [...(base.verification.damaged ?? []), ctx.db.damaged] } : {};
  const marked: BackupManifest = {
    ...base,
    ...(test.ok ? {} : { verified: false }),
    verification: { ...base.verification, ...damaged, restore_test: test },
  };
  let note: string | undefined;
  if (!stored) {
    note = `${id}'s manifest is no longer in the repository; only the catalog records the result`;
  } else {
    try {
      await deps.repository.writeManifest(id, marked);
    } catch (error) {
      note = `the repository's manifest was not updated: ${errorText(error)}`;
    }
  }
  // The catalog keeps manifests without their document lists.
  await deps.store.recordBackup({ ...marked, documents: undefined });
  ctx.recorded = test;
  ctx.markedUnverified = !test.ok;
  return note;
}

function fault(s: ScratchRestore, reason: string): DrError {
  s.fault = reason;
  return new DrError('RESTORE_FAILED', reason);
}

async function releaseDump(s: ScratchRestore): Promise<void> {
  await s.dumpFile?.release().catch(() => {});
  delete s.dumpFile;
}

function sameCounts(a: RowCounts, b: RowCounts): boolean {
  return a.documents === b.documents && a.users === b.users && a.tenants === b.tenants;
}

/** `50 documents, 10 users, 3 tenants`. */
export function describeCounts(counts: RowCounts): string {
  return `${counts.documents} documents, ${counts.users} users, ${counts.tenants} tenants`;
}

/** How the live database differs from the backup: `+2 documents since the backup`, or `the same as the backup`. */
export function describeGrowth(backup: RowCounts, live: RowCounts): string {
  const changes = (['documents', 'users', 'tenants'] as const)
    .map((row) => ({ row, delta: live[row] - backup[row] }))
    .filter((c) => c.delta !== 0)
    .map((c) => `${c.delta > 0 ? '+' : '−'}${Math.abs(c.delta)} ${c.row}`);
  return changes.length ? `${changes.join(', ')} since the backup` : 'the same as the backup';
}
