import { hostname } from 'node:os';
import { record, type DispatchDeps } from '../commands/dispatch.ts';
import { DrError, errorText } from '../domain/errors.ts';
import type { Run } from '../domain/run.ts';
import type { AlertSink } from '../ports/alerts.ts';
import { raiseJobFailure, resolveJobFailure } from '../alerts/job-failure.ts';
import { schedulePeriodMs, startSchedules, type ScheduledJob, type SchedulerLease, type Schedules } from './schedules.ts';

/** This replica's name on the slots it claims. */
export const REPLICA = `${hostname()}:${process.pid}`;

const CATCH_UP = ':catch-up:';

// The SQLite scheduler lease: renewed every 30 s, so a standby takes over within 90 s of a holder vanishing
// without a trace, and within 30 s of one on this host dying.
const SCHEDULER_LEASE = { name: 'scheduler', ttlMs: 90_000, renewMs: 30_000 } as const;

// Audit rows of the start-up catch-up say so.
function catchUpMark(slot: string): { catchUp?: true } {
  return slot.includes(CATCH_UP) ? { catchUp: true } : {};
}

/** A run that did not succeed, as the error that raises backup_job_failure (the run itself is already persisted). */
function succeeded(run: Run): Run {
  if (run.status === 'succeeded') return run;
  const reason = typeof run.summary.reason === 'string' ? `: ${run.summary.reason}` : '';
  throw new DrError('RESTORE_FAILED', `${run.procedure} ${run.id} ${run.status}${typeof run.summary.failedStep === 'string' ? ` at "${run.summary.failedStep}"` : ''}${reason}`);
}

/**
 * The backup schedules of `backups.schedule` (db, storage, config, prune, the weekly restore test and the
 * monthly drill), each slot run by one replica.
 * At start, if the newest verified database backup is older than one db schedule period (or there is
 * none), one is taken now: a bot that was down must not leave the RPO exposed until the next slot.
 * On a SQLite state store (one host) a single instance runs them, under a lease held by `instance`; another
 * instance on the same file stands by. PostgreSQL replicas share the slots instead.
 */
export async function startBackupSchedules(
  deps: DispatchDeps,
  alerts?: AlertSink,
  instance?: Pick<SchedulerLease, 'holder' | 'ownerAlive'> & Partial<Pick<SchedulerLease, 'ttlMs' | 'renewMs'>>,
): Promise<Schedules> {
  const { schedule, timezone } = deps.config.backups;
  const jobs: ScheduledJob[] = [
    { name: 'backup-db', expression: schedule.db, run: deps.backupDatabase },
    { name: 'backup-storage', expression: schedule.storage, run: deps.backupStorage },
    { name: 'backup-config', expression: schedule.config, run: deps.backupConfig },
    { name: 'prune', expression: schedule.prune, run: deps.pruneBackups },
    { name: 'verify-backup', expression: schedule.verify, run: async () => succeeded(await deps.verifyBackup('latest', undefined, 'scheduler')) },
    { name: 'drill', expression: schedule.drill, run: async () => succeeded(await deps.drill(undefined, 'scheduler')) },
  ];
  const audit = (job: string, outcome: string, detail: Record<string, unknown>) =>
    record(deps, { source: 'scheduler', actor: REPLICA, channel: 'scheduler', text: job }, job, outcome, detail);
  const failed = async (job: string, error: unknown, extra: Record<string, unknown> = {}) => {
    await audit(job, 'backup_job_failure', { error: errorText(error), ...extra });
    if (alerts) await raiseJobFailure({ alertSink: alerts, logger: deps.logger }, job, 'scheduled', error, { replica: REPLICA });
  };
  const leased = deps.store.kind === 'sqlite' && instance !== undefined;
  const schedules = startSchedules(jobs, {
    store: deps.store,
    owner: REPLICA,
    timezone,
    logger: deps.logger.child({ component: 'scheduler' }),
    onFailure: (job, error, slot) => failed(job, error, catchUpMark(slot)),
    onSuccess: async (job, result, slot) => {
      await audit(job, 'ok', { id: (result as { id?: string } | undefined)?.id, ...catchUpMark(slot) });
      if (alerts) await resolveJobFailure({ alertSink: alerts, logger: deps.logger }, job);
    },
    // Under a lease the catch-up belongs to whoever takes it: at start, or a standby taking over from a holder
    // that went (maybe before its catch-up, or mid-way through a database slot).
    ...(leased
      ? {
          lease: {
            ...SCHEDULER_LEASE,
            ...instance,
            onTaken: () => void catchUp().catch((error: unknown) => deps.logger.error({ err: errorText(error) }, 'could not check whether a database backup is due')),
          },
        }
      : {}),
  });

  // Takes one database backup now if the newest verified one is older than one db schedule period.
  async function catchUp(): Promise<void> {
    const period = schedulePeriodMs(schedules.tasks[0]!);
    const [newest] = (await deps.store.listCatalog({ kind: 'db', limit: 20 })).filter((m) => m.verified);
    const age = newest ? Date.now() - Date.parse(newest.finished_at) : Number.POSITIVE_INFINITY;
    if (period === undefined || age <= period) return;
    // Replicas starting together share one catch-up: the slot is the current period. It runs as the db job
    // (success and failure reported like a slot's), so a regular slot that comes meanwhile does not overlap it.
    deps.logger.warn({ newest: newest?.id ?? 'none', ageMs: Number.isFinite(age) ? age : null }, 'newest database backup is older than one schedule period: one replica takes one now');
    void schedules.runNow('backup-db', `backup-db${CATCH_UP}${Math.floor(Date.now() / period)}`);
  }
  if (!leased) await catchUp();
  return schedules;
}
