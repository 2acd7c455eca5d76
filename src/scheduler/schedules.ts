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
  /** Called when a job fails (the `backup_job_failure` alert). */
  onFailure: (job: string, error: unknown) => void | Promise<void>;
  /** Called when a job succeeds, with its result. */
  onSuccess?: (job: string, result: unknown) => void | Promise<void>;
}

/** Running schedules. */
export interface Schedules {
  tasks: ScheduledTask[];
  stop(): Promise<void>;
}

/**
 * Starts each job on its cron expression in `backups.timezone`, never overlapping itself, and exactly once
 * per slot across replicas: before a slot runs, the replica claims it with an insert into the shared state
 * store, and only the one whose insert wins runs it (a failing store skips the slot: fails closed).
 * `stop()` starts no new slot and waits for the ones already claimed.
 */
export function startSchedules(jobs: readonly ScheduledJob[], deps: ScheduleDeps): Schedules {
  // The slot is claimed inside the task rather than through node-cron's run coordinator: a task destroyed
  // between the coordinator's claim and the run would leave a slot claimed that nobody ran.
  let stopping = false;
  const inFlight = new Set<Promise<void>>();
  const runSlot = async (job: ScheduledJob, slot: Date): Promise<void> => {
    const key = `${job.name}:${slot.toISOString()}`;
    let claimed: boolean;
    try {
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
      await deps.onSuccess?.(job.name, result);
    } catch (error) {
      deps.logger.error({ job: job.name, err: errorText(error) }, 'scheduled job failed');
      await deps.onFailure(job.name, error);
    }
  };
  const tasks = jobs.map((job) =>
    cron.schedule(
      job.expression,
      (context) => {
        if (stopping) return;
        const run = runSlot(job, context.date).finally(() => inFlight.delete(run));
        inFlight.add(run);
        return run;
      },
      { name: job.name, timezone: deps.timezone, noOverlap: true },
    ),
  );
  return {
    tasks,
    async stop() {
      stopping = true;
      for (const task of tasks) await task.destroy();
      // A slot this replica claimed is run to the end: no other replica will.
      await Promise.allSettled([...inFlight]);
    },
  };
}

/** The time between two consecutive runs of a cron expression, from now: "one schedule period". */
export function schedulePeriodMs(task: ScheduledTask): number | undefined {
  const [first, second] = task.getNextRuns(2);
  return first && second ? second.getTime() - first.getTime() : undefined;
}
