import type { BackupManifest } from '../backup/manifest.ts';
import { formatBytes } from '../domain/format.ts';
import { DrError, errorText } from '../domain/errors.ts';
import { sealPlan, type Plan } from '../domain/plan.ts';
import type { Run } from '../domain/run.ts';
import type { DatabaseRef, DatabaseRestorer, DmsEndpoints } from '../ports/dms.ts';
import type { ServiceControl } from '../ports/service.ts';
import type { StateStore } from '../ports/state-store.ts';
import { type RunSpec, runOriginFields } from './engine.ts';
import { backupPointInTime, chooseBackup, expectedDurationMs, plannedBackup, runLabel } from './plan-helpers.ts';
import { runServiceCommand, waitForHealthy } from './service-steps.ts';
import { sha256OfFile } from '../backup/file-hash.ts';

/** A stored backup file as a local path (the local repository's own file, or a download from S3). */
export interface BackupFiles {
  localFile(key: string): Promise<{ path: string; release(): Promise<void> }>;
}

/** What restoring the DMS database needs. */
export interface RestoreDbDeps {
  store: StateStore;
  repository: BackupFiles;
  restorer: DatabaseRestorer;
  service: ServiceControl;
  endpoints: DmsEndpoints;
  /** The live database, for the plan (never with a password). */
  liveLocation: string;
  /** How long the DMS may take to report healthy after it starts. */
  healthDeadlineMs: number;
  now: () => Date;
}

/** The steps of `restore db`, in order (restore all reuses them). */
export const RESTORE_DB_STEPS = [
  'fetch the backup',
  'restore it into a new database beside the live one, checking its SHA-256 meanwhile',
  'check integrity and counts, and that the swap can be made',
  'stop the service',
  'swap the restored database in (the old one is kept)',
  'start the service',
  'wait for the health check',
] as const;

/** The plan of `restore db [latest|ID]`: which backup, what it costs in data, how long it should take. */
export async function planRestoreDb(deps: RestoreDbDeps, choice: string): Promise<Plan> {
  const backup = await chooseBackup(deps.store, 'db', choice);
  if (backup.source.engine !== deps.restorer.engine) {
    throw new DrError('BACKUP_NOT_FOUND', `${backup.id} is a ${backup.source.engine ?? 'unknown'} backup and the live database is ${deps.restorer.engine}. Nothing was run.`);
  }
  const now = deps.now();
  const expected = await expectedDurationMs(deps.store, ['restore-db']);
  return sealPlan({
    procedure: 'restore-db',
    gate: 'restore',
    title: `Restore the DMS database from ${backup.id}`,
    target: deps.liveLocation,
    steps: [...RESTORE_DB_STEPS],
    backups: [plannedBackup(backup)],
    notes: ['The service is down only from "stop" to "start": the restore itself happens beside the live database.', 'The current database is kept; `/dr restore undo` swaps it back.'],
    request: { backup: choice },
    input: { backupId: backup.id },
    madeAt: now.toISOString(),
    dataLossWindowMs: now.getTime() - Date.parse(backupPointInTime(backup)),
    ...(expected !== undefined ? { expectedDurationMs: expected } : {}),
  });
}

/** What a restore run carries from step to step. */
interface RestoreDbContext {
  backup?: BackupManifest;
  dumpFile?: { path: string; release(): Promise<void> };
  scratch?: DatabaseRef;
  kept?: DatabaseRef;
  counts?: { documents: number; users: number; tenants: number };
  serviceStopped: boolean;
  serviceStarted: boolean;
  swapped?: boolean;
  downtimeStartedAt?: number;
  downtimeMs?: number;
}

/** The steps of a confirmed `restore db` plan (DESIGN.md §6: restore beside, check, then a short swap). */
export function restoreDbRun(deps: RestoreDbDeps, plan: Plan, who: { actor: string; gateId?: string; channel?: string; messageTs?: string }): RunSpec<RestoreDbContext> {
  const backupId = plan.input.backupId!;
  const label = runLabel(deps.now());
  const context: RestoreDbContext = { serviceStopped: false, serviceStarted: false };
  const release = async () => {
    await context.dumpFile?.release().catch(() => {});
    delete context.dumpFile;
  };
  return {
    procedure: 'restore-db',
    actor: who.actor,
    ...runOriginFields(who),
    leftovers: { scratchLabel: label },
    context,
    steps: [
      {
        name: RESTORE_DB_STEPS[0],
        run: async (ctx) => {
          const backup = (await deps.store.listCatalog({ kind: 'db', limit: 10_000 })).find((m) => m.id === backupId);
          if (!backup) throw new DrError('BACKUP_NOT_FOUND', `${backupId} is no longer in the catalog`);
          const file = backup.files[0];
          if (!file) throw new DrError('RESTORE_FAILED', `${backupId} has no file in its manifest`);
          ctx.backup = backup;
          ctx.dumpFile = await deps.repository.localFile(file.key);
          return `${backupId}, ${formatBytes(file.size_bytes)}`;
        },
      },
      {
        name: RESTORE_DB_STEPS[1],
        run: async (ctx, signal) => {
          // The hash is read beside the restore rather than before it: a damaged dump is still caught before
          // anything is swapped (the scratch copy is then dropped), and the restore is not kept waiting.
          const file = ctx.backup!.files[0]!;
          const [scratch, actual] = await Promise.allSettled([deps.restorer.restoreToScratch(ctx.dumpFile!.path, label, signal), sha256OfFile(ctx.dumpFile!.path)]);
          if (scratch.status === 'fulfilled') ctx.scratch = scratch.value;
          await release();
          if (actual.status === 'fulfilled' && actual.value !== file.sha256) {
            throw new DrError('RESTORE_FAILED', `${backupId} is damaged: ${file.key} has SHA-256 ${actual.value.slice(0, 12)}…, the manifest says ${file.sha256.slice(0, 12)}…`);
          }
          if (actual.status === 'rejected') throw actual.reason;
          if (scratch.status === 'rejected') throw scratch.reason;
          return `${ctx.scratch!.location}; SHA-256 of the dump matches the manifest`;
        },
      },
      {
        name: RESTORE_DB_STEPS[2],
        run: async (ctx, signal) => {
          const found = await deps.restorer.inspect(ctx.scratch!, signal);
          if (found.integrity !== 'ok') throw new DrError('RESTORE_FAILED', `the restored database fails its integrity check: ${found.integrity}`);
          const recorded = ctx.backup!.verification.counts;
          const counts = found.counts;
          if (recorded && (recorded.documents !== counts.documents || recorded.users !== counts.users || recorded.tenants !== counts.tenants)) {
            throw new DrError('RESTORE_FAILED', `the restored counts (${describeCounts(counts)}) differ from the backup's (${describeCounts(recorded)})`);
          }
          ctx.counts = counts;
          // Whatever can stop the swap is found now, while the DMS still serves, not after it was stopped.
          await deps.restorer.checkSwap(ctx.scratch!, label);
          return `integrity ok; ${describeCounts(counts)}${recorded ? ', equal to the backup' : ''}; the swap can be made`;
        },
      },
      {
        name: RESTORE_DB_STEPS[3],
        run: (ctx, signal) => stopService(deps, ctx, signal),
      },
      {
        name: RESTORE_DB_STEPS[4],
        run: async (ctx) => {
          ctx.kept = await deps.restorer.swapIn(ctx.scratch!, label);
          ctx.swapped = true;
          delete ctx.scratch;
          return ctx.kept ? `old database kept as ${ctx.kept.location}` : 'there was no live database to keep (a complete loss); the restored one took its place';
        },
      },
      {
        name: RESTORE_DB_STEPS[5],
        run: (ctx, signal) => startService(deps, ctx, signal),
      },
      { name: RESTORE_DB_STEPS[6], run: (_ctx, signal) => waitForHealthy(deps.endpoints, deps.healthDeadlineMs, signal) },
    ],
    onFailure: async (ctx) => {
      const notes: string[] = [];
      await release();
      if (ctx.scratch) {
        await deps.restorer.drop(ctx.scratch).then(
          () => notes.push(`removed the unfinished restore ${ctx.scratch!.location}`),
          (error: unknown) => notes.push(`could not remove ${ctx.scratch!.location}: ${errorText(error)}`),
        );
      }
      const restarted = await startIfLeftStopped(deps, ctx);
      if (restarted) notes.push(restarted);
      notes.push(ctx.swapped ? `the restored database is live${ctx.kept ? `; the old one is kept as ${ctx.kept.location}` : ''}` : 'the live database was not changed');
      return notes;
    },
    summarize: (ctx, run) => summarizeRestore(ctx, run, plan),
  };
}

function summarizeRestore(ctx: RestoreDbContext, _run: Run, plan: Plan): Record<string, unknown> {
  const point = ctx.backup ? backupPointInTime(ctx.backup) : undefined;
  return {
    backupId: plan.input.backupId,
    ...(point ? { backupPointInTime: point, dataLossWindowMs: Date.parse(plan.madeAt) - Date.parse(point) } : {}),
    ...(ctx.downtimeMs !== undefined ? { downtimeMs: ctx.downtimeMs } : {}),
    ...(ctx.counts ? { counts: ctx.counts } : {}),
    // Whatever happened later, a swap that took place leaves the old database to swap back.
    ...(ctx.kept ? { kept: ctx.kept } : {}),
  };
}

function describeCounts(counts: { documents: number; users: number; tenants: number }): string {
  return `${counts.documents} documents, ${counts.users} users, ${counts.tenants} tenants`;
}


const UNDO_STEPS = ['check the kept database and that it can be swapped back', 'stop the service', 'swap the kept database back in', 'start the service', 'wait for the health check'] as const;

/** The database the newest restore (or undo) replaced, and the run that kept it. */
async function keptByNewestRestore(store: StateStore): Promise<{ run: Run; kept: DatabaseRef } | undefined> {
  const runs = (await Promise.all(['restore-db', 'restore-all', 'restore-undo'].map((procedure) => store.listRuns({ procedure, limit: 20 })))).flat();
  runs.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  for (const run of runs) {
    const kept = run.summary.kept as DatabaseRef | undefined;
    if (kept) return { run, kept };
  }
  return undefined;
}

/** The plan of `restore undo`: swap back the database the newest restore replaced (an undo of an undo redoes). */
export async function planRestoreUndo(deps: RestoreDbDeps): Promise<Plan> {
  const found = await keptByNewestRestore(deps.store);
  if (!found) throw new DrError('NOTHING_TO_UNDO', 'No restore has replaced the database yet, so there is nothing to undo. Nothing was run.');
  const expected = await expectedDurationMs(deps.store, ['restore-undo']);
  const health = await keptHealth(deps, found.kept);
  return sealPlan({
    procedure: 'restore-undo',
    gate: 'restore',
    title: `Swap back the database that ${found.run.id} replaced`,
    target: deps.liveLocation,
    steps: [...UNDO_STEPS],
    backups: [],
    notes: [`The database to bring back: ${found.kept.location} (live until ${found.run.finishedAt ?? found.run.startedAt}).`, health, 'The database live now is kept in its turn, so this can be undone again.'],
    request: {},
    input: { runId: found.run.id, kept: found.kept.name },
    madeAt: deps.now().toISOString(),
    ...(expected !== undefined ? { expectedDurationMs: expected } : {}),
  });
}

// How long the plan may spend checking the kept database (a full integrity check of a large file takes a while;
// the run checks it again in its first step anyway).
const PLAN_CHECK_MS = 20_000;

/** What the plan says about the database undo brings back: sound, or plainly that it fails its check. */
async function keptHealth(deps: RestoreDbDeps, kept: DatabaseRef): Promise<string> {
  try {
    const found = await deps.restorer.inspect(kept, AbortSignal.timeout(PLAN_CHECK_MS));
    if (found.integrity === 'ok') return `It passes its integrity check: ${describeCounts(found.counts)}.`;
    return `⚠️ The database to bring back FAILS its integrity check (${found.integrity.slice(0, 200)}): undo puts back exactly the bytes it replaced, damage included; the DMS will not work on it.`;
  } catch (error) {
    return `⚠️ The database to bring back could not be checked now (${errorText(error).slice(0, 200)}); the run checks it before stopping anything.`;
  }
}

/** The steps of a confirmed `restore undo` plan. */
export function restoreUndoRun(deps: RestoreDbDeps, plan: Plan, who: { actor: string; gateId?: string; channel?: string; messageTs?: string }): RunSpec<RestoreDbContext> {
  const label = runLabel(deps.now());
  const context: RestoreDbContext = { serviceStopped: false, serviceStarted: false };
  let toRestore: DatabaseRef | undefined;
  let asIs = false;
  return {
    procedure: 'restore-undo',
    actor: who.actor,
    ...runOriginFields(who),
    context,
    steps: [
      {
        name: UNDO_STEPS[0],
        run: async (ctx, signal) => {
          const run = await deps.store.getRun(plan.input.runId!);
          toRestore = run?.summary.kept as DatabaseRef | undefined;
          if (!toRestore || toRestore.name !== plan.input.kept) throw new DrError('NOTHING_TO_UNDO', 'the kept database is no longer recorded');
          const found = await deps.restorer.inspect(toRestore, signal);
          // A database that was corrupt when it was replaced is brought back as it was, byte for byte: that is
          // what undo means. Only a sound one is opened to fold its log in.
          asIs = found.integrity !== 'ok';
          await deps.restorer.checkSwap(toRestore, label, { asIs });
          if (!asIs) ctx.counts = found.counts;
          if (asIs) return { detail: `${toRestore.location} FAILS its integrity check (${found.integrity.slice(0, 120)}); it goes back byte for byte as it was; the swap can be made`, warning: true };
          return `${toRestore.location}: integrity ok; ${describeCounts(found.counts)}; the swap can be made`;
        },
      },
      {
        name: UNDO_STEPS[1],
        run: (ctx, signal) => stopService(deps, ctx, signal),
      },
      {
        name: UNDO_STEPS[2],
        run: async (ctx) => {
          ctx.kept = await deps.restorer.swapIn(toRestore!, label, { asIs });
          ctx.swapped = true;
          const how = asIs ? 'put back byte for byte; ' : '';
          return `${how}${ctx.kept ? `the replaced database is kept as ${ctx.kept.location}` : 'there was no live database to keep'}`;
        },
      },
      {
        name: UNDO_STEPS[3],
        run: (ctx, signal) => startService(deps, ctx, signal),
      },
      { name: UNDO_STEPS[4], run: (_ctx, signal) => waitForHealthy(deps.endpoints, deps.healthDeadlineMs, signal) },
    ],
    onFailure: async (ctx) => {
      const notes: string[] = [];
      const restarted = await startIfLeftStopped(deps, ctx);
      if (restarted) notes.push(restarted);
      notes.push(ctx.swapped ? `the kept database is live again${ctx.kept ? `; the replaced one is kept as ${ctx.kept.location}` : ''}` : 'the live database was not changed');
      return notes;
    },
    summarize: (ctx) => ({
      undoes: plan.input.runId,
      ...(ctx.downtimeMs !== undefined ? { downtimeMs: ctx.downtimeMs } : {}),
      ...(ctx.counts ? { counts: ctx.counts } : {}),
      ...(ctx.kept ? { kept: ctx.kept } : {}),
    }),
  };
}

/** Stops the service, noting when the downtime began. */
async function stopService(deps: RestoreDbDeps, ctx: RestoreDbContext, signal: AbortSignal): Promise<string> {
  ctx.serviceStopped = true;
  ctx.downtimeStartedAt = Date.now();
  return runServiceCommand(deps.service, 'stop', signal);
}

/** Starts the service again, measuring the downtime (stop → start). */
async function startService(deps: RestoreDbDeps, ctx: RestoreDbContext, signal: AbortSignal): Promise<string> {
  const line = await runServiceCommand(deps.service, 'start', signal);
  ctx.serviceStarted = true;
  ctx.downtimeMs = Date.now() - ctx.downtimeStartedAt!;
  return line;
}

/** After a failure: the service must not stay down because a later step failed. Says what it did, if anything. */
async function startIfLeftStopped(deps: RestoreDbDeps, ctx: RestoreDbContext): Promise<string | undefined> {
  if (!ctx.serviceStopped || ctx.serviceStarted) return undefined;
  const result = await deps.service.run('start').catch((error: unknown) => ({ exitCode: null, output: errorText(error) }));
  return result.exitCode === 0 ? 'started the service again' : `could NOT start the service again: ${result.output.split('\n').at(-1) ?? ''}`;
}
