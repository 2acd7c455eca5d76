import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { errorText } from '../domain/errors.ts';
import { lastFinishedStep, type Run, type StepRecord } from '../domain/run.ts';
import type { StateStore } from '../ports/state-store.ts';

/** What the engine needs: where runs are persisted, the clock, and who this process is. */
export interface EngineDeps {
  store: StateStore;
  now: () => Date;
  /** This process, recorded on the runs it executes. */
  owner: string;
  logger: Logger;
  /** How often a live run refreshes its heartbeat. */
  heartbeatMs?: number;
}

/** What a step that carried on despite a finding returns: its detail, shown with a warning mark instead of a tick. */
export interface StepWarning {
  detail: string;
  warning: true;
}

/** One step of a procedure: a name shown in the checklist, and what it does; it may return a one-line detail. */
export interface StepDefinition<Context> {
  name: string;
  run: (context: Context, signal: AbortSignal) => Promise<string | StepWarning | void>;
}

/** A procedure ready to run: its steps over a shared context, and what to do if one fails. */
export interface RunSpec<Context> {
  procedure: string;
  gateId?: string;
  actor: string;
  channel?: string;
  messageTs?: string;
  context: Context;
  steps: readonly StepDefinition<Context>[];
  /**
   * After a failed step: put back what must not stay half-done (start the service again, drop a scratch
   * database). Returns lines for the summary; it must not throw.
   */
  onFailure?: (context: Context, failedStep: string) => Promise<string[]>;
  /** Figures for the summary once the run ends (duration is added by the engine). */
  summarize?: (context: Context, run: Run) => Record<string, unknown>;
  /** What a crash of this run could leave behind, recorded with it before its first step: start-up removes it. */
  leftovers?: RunLeftovers;
}

/** Names of what a run makes on its way and removes itself, unless it is killed first. */
export interface RunLeftovers {
  /** The label of the scratch database it restores into (`DatabaseRestorer.scratchFor`). */
  scratchLabel?: string;
  /** When the bot removed them after the run was interrupted; until then every sweep tries again. */
  removedAt?: string;
}

/** Told about every change of the run (to update its Slack checklist); never awaited by the steps. */
export type RunObserver = (run: Run) => void;

/**
 * Runs the steps in order, persisting the run before and after every step, so a crash leaves a record of
 * exactly how far it got (DESIGN.md §6). A failing step stops the run; the rest are marked skipped.
 */
export async function executeRun<Context>(deps: EngineDeps, spec: RunSpec<Context>, observe: RunObserver = () => {}): Promise<Run> {
  const startedAt = deps.now();
  let run: Run = {
    id: `run-${startedAt.toISOString().replace(/[-:.]/g, '').slice(0, 15)}Z-${randomUUID().slice(0, 8)}`,
    procedure: spec.procedure,
    ...(spec.gateId ? { gateId: spec.gateId } : {}),
    actor: spec.actor,
    status: 'running',
    startedAt: startedAt.toISOString(),
    heartbeatAt: startedAt.toISOString(),
    owner: deps.owner,
    steps: spec.steps.map((step): StepRecord => ({ name: step.name, status: 'pending' })),
    ...(spec.channel ? { channel: spec.channel } : {}),
    ...(spec.messageTs ? { messageTs: spec.messageTs } : {}),
    summary: spec.leftovers ? { leftovers: spec.leftovers } : {},
  };
  await deps.store.createRun(run);
  // Writes go one after the other, each of the newest state: a heartbeat can never overwrite a later step.
  let writes: Promise<void> = Promise.resolve();
  const persist = () => (writes = writes.catch(() => {}).then(() => deps.store.updateRun(run)));
  // A store that fails to record progress must not abort the procedure half-way (the service stopped, say):
  // the failure is logged, and the next write carries the newest state anyway.
  const save = async (next: Run) => {
    run = next;
    observe(run);
    await persist().catch((error: unknown) => deps.logger.error({ run: run.id, err: errorText(error) }, 'run progress not saved; carrying on'));
  };
  // The figures so far (what was kept for undo, say) go into the record after every step, so a crash
  // right after the swap still leaves them for `restore undo`.
  const figuresSoFar = (): Record<string, unknown> => {
    try {
      return spec.summarize?.(spec.context, run) ?? {};
    } catch {
      return {};
    }
  };
  observe(run);
  const heartbeat = setInterval(() => {
    run = { ...run, heartbeatAt: deps.now().toISOString() };
    persist().catch((error: unknown) => {
      deps.logger.warn({ run: run.id, err: errorText(error) }, 'run heartbeat not saved');
    });
  }, deps.heartbeatMs ?? 15_000);
  heartbeat.unref();
  const abort = new AbortController();
  const log = deps.logger.child({ run: run.id, procedure: spec.procedure });
  log.info({ actor: spec.actor }, 'run started');
  try {
    for (const [index, step] of spec.steps.entries()) {
      await save(withStep(run, index, { status: 'running', startedAt: deps.now().toISOString() }));
      let detail: string | StepWarning | void;
      try {
        detail = await step.run(spec.context, abort.signal);
      } catch (error) {
        const reason = errorText(error);
        log.error({ step: step.name, err: reason }, 'run step failed');
        let failed = withStep(run, index, { status: 'failed', finishedAt: deps.now().toISOString(), detail: reason });
        failed = { ...failed, steps: failed.steps.map((s, i) => (i > index ? { ...s, status: 'skipped' } : s)) };
        await save(failed);
        // A clean-up that throws (even synchronously) must not leave the run `running` forever.
        const recovery = spec.onFailure
          ? await Promise.resolve()
              .then(() => spec.onFailure!(spec.context, step.name))
              .catch((e: unknown) => [`clean-up failed: ${errorText(e)}`])
          : [];
        return await finish('failed', { failedStep: step.name, reason, ...(recovery.length ? { recovery } : {}) });
      }
      const found = typeof detail === 'object' ? { detail: detail.detail, warning: true } : detail ? { detail } : {};
      const done = withStep(run, index, { status: 'done', finishedAt: deps.now().toISOString(), ...found });
      run = done;
      await save({ ...done, summary: { ...done.summary, ...figuresSoFar() } });
    }
    return await finish('succeeded', {});
  } finally {
    clearInterval(heartbeat);
  }

  async function finish(status: 'succeeded' | 'failed', extra: Record<string, unknown>): Promise<Run> {
    const finishedAt = deps.now();
    const ended: Run = { ...run, status, finishedAt: finishedAt.toISOString(), heartbeatAt: finishedAt.toISOString() };
    let figures: Record<string, unknown> = {};
    try {
      figures = spec.summarize?.(spec.context, ended) ?? {};
    } catch (error) {
      figures = { summaryError: errorText(error) };
    }
    const summary = { durationMs: finishedAt.getTime() - startedAt.getTime(), ...figures, ...extra };
    await save({ ...ended, summary });
    log.info({ status, durationMs: summary.durationMs }, 'run finished');
    return run;
  }
}

function withStep(run: Run, index: number, change: Partial<StepRecord>): Run {
  return { ...run, steps: run.steps.map((step, i) => (i === index ? { ...step, ...change } : step)) };
}

/**
 * Finds runs that were `running` when their process died and marks them `interrupted`, with their last
 * finished step: they are reported, never resumed silently. A run's owner is dead when `ownerAlive` says
 * so (a process on this host that no longer exists); otherwise when its heartbeat is older than `staleAfterMs`.
 */
export async function markInterruptedRuns(
  deps: Pick<EngineDeps, 'store' | 'now' | 'owner'>,
  options: { staleAfterMs: number; ownerAlive: (owner: string) => boolean | undefined },
): Promise<Run[]> {
  const now = deps.now();
  const marked: Run[] = [];
  for (const run of await deps.store.listRuns({ status: 'running', limit: 1_000 })) {
    if (run.owner === deps.owner) continue;
    const alive = options.ownerAlive(run.owner);
    if (alive === true) continue;
    if (alive === undefined && now.getTime() - Date.parse(run.heartbeatAt) < options.staleAfterMs) continue;
    const lastStep = lastFinishedStep(run);
    const interrupted: Run = {
      ...run,
      status: 'interrupted',
      finishedAt: now.toISOString(),
      steps: run.steps.map((step) => (step.status === 'running' ? { ...step, status: 'failed', detail: 'interrupted: the bot stopped during this step' } : step)),
      summary: { ...run.summary, interruptedAfter: lastStep ?? 'nothing (no step had finished)' },
    };
    await deps.store.updateRun(interrupted);
    marked.push(interrupted);
  }
  return marked;
}

/** The gate and Slack message a run belongs to, as the optional RunSpec fields that carry them. */
export function runOriginFields(origin: { gateId?: string; channel?: string; messageTs?: string }): Pick<RunSpec<unknown>, 'gateId' | 'channel' | 'messageTs'> {
  return {
    ...(origin.gateId ? { gateId: origin.gateId } : {}),
    ...(origin.channel ? { channel: origin.channel } : {}),
    ...(origin.messageTs ? { messageTs: origin.messageTs } : {}),
  };
}
