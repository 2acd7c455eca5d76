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
 * `stop()` starts no new slot and waits for the ones already claimed.
 */
export function startSchedules(jobs: readonly ScheduledJob[], deps: ScheduleDeps): Schedules {
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
    },
  };
}

/** The time between two consecutive runs of a cron expression, from now: "one schedule period". */
export function schedulePeriodMs(task: ScheduledTask): number | undefined {
  const [first, second] = task.getNextRuns(2);
  return first && second ? second.getTime() - first.getTime() : undefined;
}
