import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import { errorText } from '../domain/errors.ts';
import type { StateStore } from '../ports/state-store.ts';

/** A job the scheduler runs: its cron expression and what it does. */
export interface ScheduledJob {
  name: string;
  expression: string;
  run: () => Promise<unknown>;
}

/** What the scheduler needs. */
export interface ScheduleDeps {
  store: StateStore;
  /** This replica, as recorded on the slots it claims. */
  owner: string;
  timezone: string;
  logger: Logger;
  /** Called when a job fails (the `backup_job_failure` alert), with the slot it ran for. */
  onFailure: (job: string, error: unknown, slot: string) => void | Promise<void>;
  /** Called when a job succeeds, with its result and the slot it ran for. */
  onSuccess?: (job: string, result: unknown, slot: string) => void | Promise<void>;
  /** With a lease (a SQLite state store): only the instance holding it runs slots; the others stand by. */
  lease?: SchedulerLease;
}

/** The lease one instance holds to be the only one running the schedules. */
export interface SchedulerLease {
  name: string;
  /** This process, as recorded on the lease (`host.pid.random`, so a dead holder on this host is known dead). */
  holder: string;
  ownerAlive?: (owner: string) => boolean | undefined;
  /** How long the lease lasts unless renewed: how long a standby waits for a holder that vanished elsewhere. */
  ttlMs: number;
  /** How often the holder renews it (and a standby tries to take it). */
  renewMs: number;
  /** Called each time this instance takes the lease (at start, or from a holder that went). */
  onTaken?: () => void;
  now?: () => Date;
}

/** Running schedules. */
export interface Schedules {
  tasks: ScheduledTask[];
  /**
   * Runs a job now, outside its cron slots (the start-up catch-up), claiming `slotKey` first like a slot.
   * A regular slot of the same job that comes while it runs is skipped, and `stop()` waits for it.
   */
  runNow(jobName: string, slotKey: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts each job on its cron expression in `backups.timezone`, never overlapping itself, and exactly once
 * per slot across replicas: before a slot runs, the replica claims it with an insert into the shared state
 * store, and only the one whose insert wins runs it (a failing store skips the slot: fails closed).
 * With a lease, only its holder claims slots at all. `stop()` starts no new slot, waits for the ones already
 * claimed, and gives the lease up.
 */
export function startSchedules(jobs: readonly ScheduledJob[], deps: ScheduleDeps): Schedules {
  const lease = deps.lease ? holdLease(deps.lease, deps.store, deps.logger) : undefined;
  // The slot is claimed inside the task rather than through node-cron's run coordinator: a task destroyed
  // between the coordinator's claim and the run would leave a slot claimed that nobody ran.
  let stopping = false;
  const inFlight = new Set<Promise<void>>();
  // Jobs running on this replica: node-cron's noOverlap covers a task's own slots, this also covers runNow.
  const running = new Set<string>();
  const runSlot = async (job: ScheduledJob, key: string): Promise<void> => {
    if (running.has(job.name)) {
      deps.logger.warn({ job: job.name, slot: key }, 'the previous run of this job is still going; skipping this slot');
      return;
    }
    running.add(job.name);
    try {
      await claimAndRun(job, key);
    } finally {
      running.delete(job.name);
    }
  };
  const claimAndRun = async (job: ScheduledJob, key: string): Promise<void> => {
    let claimed: boolean;
    try {
      if (lease && !(await lease.renew())) {
        deps.logger.debug({ job: job.name, slot: key }, 'standing by: the slot is the lease holder’s');
        return;
      }
      claimed = await deps.store.claimSlot(key, deps.owner);
    } catch (error) {
      deps.logger.error({ job: job.name, slot: key, err: errorText(error) }, 'could not claim the schedule slot; skipping it');
      return;
    }
    if (!claimed) return;
    const started = Date.now();
    try {
      const result = await job.run();
      deps.logger.info({ job: job.name, ms: Date.now() - started }, 'scheduled job finished');
      await deps.onSuccess?.(job.name, result, key);
    } catch (error) {
      deps.logger.error({ job: job.name, err: errorText(error) }, 'scheduled job failed');
      await deps.onFailure(job.name, error, key);
    }
  };
  const track = (run: Promise<void>): Promise<void> => {
    const tracked = run.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    return tracked;
  };
  const tasks = jobs.map((job) =>
    cron.schedule(
      job.expression,
      (context) => {
        if (stopping) return;
        return track(runSlot(job, `${job.name}:${context.date.toISOString()}`));
      },
      { name: job.name, timezone: deps.timezone, noOverlap: true },
    ),
  );
  return {
    tasks,
    async runNow(jobName, slotKey) {
      const job = jobs.find((j) => j.name === jobName);
      if (!job) throw new Error(`no scheduled job named ${jobName}`);
      if (stopping) return;
      await track(runSlot(job, slotKey));
    },
    async stop() {
      stopping = true;
      for (const task of tasks) await task.destroy();
      // A slot this replica claimed is run to the end: no other replica will.
      await Promise.allSettled([...inFlight]);
      await lease?.release();
    },
  };
}

/**
 * Takes the scheduler lease now and keeps renewing it; a standby keeps trying, so it takes over once the
 * holder stops, dies (at once when its death is known) or stops renewing. `renew()` is also asked before
 * every slot: a holder that lost the lease meanwhile must not run it. One renewal at a time, and `release()`
 * waits for the one in flight, which could otherwise write the lease back after it was given up.
 */
function holdLease(lease: SchedulerLease, store: StateStore, logger: Logger): { renew(): Promise<boolean>; release(): Promise<void> } {
  const now = lease.now ?? (() => new Date());
  let holding: boolean | undefined;
  let released = false;
  let inFlight: Promise<boolean> | undefined;
  const attempt = async (): Promise<boolean> => {
    const at = now();
    let held: boolean;
    try {
      held = await store.acquireLease(lease.name, lease.holder, { now: at.toISOString(), until: new Date(at.getTime() + lease.ttlMs).toISOString(), ...(lease.ownerAlive ? { ownerAlive: lease.ownerAlive } : {}) });
    } catch (error) {
      // Fails closed, like a slot that cannot be claimed; the next success says again who holds it.
      logger.error({ lease: lease.name, err: errorText(error) }, 'could not renew the scheduler lease; running no slot until it is renewed');
      holding = undefined;
      return false;
    }
    if (held !== holding) {
      if (held) logger.info({ lease: lease.name }, 'this instance holds the scheduler lease and runs the schedules');
      else logger.warn({ lease: lease.name, holder: await store.leaseHolder(lease.name, at.toISOString()).catch(() => undefined) }, 'another instance holds the scheduler lease: standing by');
      const taken = held && holding !== true;
      holding = held;
      if (taken) lease.onTaken?.();
    }
    return held;
  };
  const renew = (): Promise<boolean> => {
    if (released) return Promise.resolve(false);
    inFlight ??= attempt().finally(() => (inFlight = undefined));
    return inFlight;
  };
  void renew();
  const timer = setInterval(() => void renew(), lease.renewMs);
  timer.unref();
  return {
    renew,
    async release() {
      released = true;
      clearInterval(timer);
      await inFlight;
      await store.releaseLease(lease.name, lease.holder).catch((error: unknown) => logger.warn({ lease: lease.name, err: errorText(error) }, 'could not give the scheduler lease up; it expires on its own'));
    },
  };
}

/** The time between two consecutive runs of a cron expression, from now: "one schedule period". */
export function schedulePeriodMs(task: ScheduledTask): number | undefined {
  const [first, second] = task.getNextRuns(2);
  return first && second ? second.getTime() - first.getTime() : undefined;
}
