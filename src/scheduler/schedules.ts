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
 */
export function startSchedules(jobs: readonly ScheduledJob[], deps: ScheduleDeps): Schedules {
  const coordinator = { shouldRun: (key: string) => deps.store.claimSlot(key, deps.owner) };
  const tasks = jobs.map((job) =>
    cron.schedule(
      job.expression,
      async () => {
        const started = Date.now();
        try {
          const result = await job.run();
          deps.logger.info({ job: job.name, ms: Date.now() - started }, 'scheduled job finished');
          await deps.onSuccess?.(job.name, result);
        } catch (error) {
          deps.logger.error({ job: job.name, err: errorText(error) }, 'scheduled job failed');
          await deps.onFailure(job.name, error);
        }
      },
      { name: job.name, timezone: deps.timezone, noOverlap: true, distributed: true, runCoordinator: coordinator },
    ),
  );
  return {
    tasks,
    async stop() {
      for (const task of tasks) await task.destroy();
    },
  };
}

/** The time between two consecutive runs of a cron expression, from now: "one schedule period". */
export function schedulePeriodMs(task: ScheduledTask): number | undefined {
  const [first, second] = task.getNextRuns(2);
  return first && second ? second.getTime() - first.getTime() : undefined;
}
