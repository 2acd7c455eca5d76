import { errorText } from '../domain/errors.ts';
import type { Run } from '../domain/run.ts';
import type { StateStore } from '../ports/state-store.ts';
import type { RunLeftovers } from './engine.ts';

/** What removing the leftovers of interrupted runs needs. */
export interface RunLeftoverDeps {
  store: StateStore;
  now: () => Date;
  /** Removes one run's leftovers (its scratch database); `pending` when they may still be there. */
  remove: (run: Run) => Promise<{ said: string[]; pending: boolean }>;
  /** True only when the run's process is known to be gone: a live or merely silent owner may still be writing into them. */
  ownerGone: (run: Run) => boolean;
}

// A scratch database recorded, not yet removed, and its run's process known to be gone.
function awaitsRemoval(deps: RunLeftoverDeps, run: Run): boolean {
  const leftovers = leftoversOf(run);
  return leftovers?.scratchLabel !== undefined && leftovers.removedAt === undefined && deps.ownerGone(run);
}

/** What a run recorded that a crash could leave behind. */
export function leftoversOf(run: Run): RunLeftovers | undefined {
  return run.summary.leftovers as RunLeftovers | undefined;
}

/**
 * Removes what one interrupted run left behind, when its process is known to be gone, and records the removal
 * so later sweeps leave it alone. Returns lines saying what was done; never throws.
 */
export async function clearRunLeftovers(deps: RunLeftoverDeps, run: Run): Promise<string[]> {
  const leftovers = leftoversOf(run);
  if (!leftovers || !awaitsRemoval(deps, run)) return [];
  let outcome: { said: string[]; pending: boolean };
  try {
    outcome = await deps.remove(run);
  } catch (error) {
    return [`could not remove its leftovers: ${errorText(error)}`];
  }
  if (outcome.pending) return outcome.said;
  try {
    const current = (await deps.store.getRun(run.id)) ?? run;
    await deps.store.updateRun({ ...current, summary: { ...current.summary, leftovers: { ...leftovers, removedAt: deps.now().toISOString() } } });
  } catch {
    // Not recorded: the next sweep drops the (now absent) scratch again, which is harmless.
  }
  return outcome.said;
}

/** Tries again for interrupted runs whose leftovers an earlier sweep could not remove (the database was down); `skip` names runs just tried. */
export async function retryPendingLeftovers(deps: RunLeftoverDeps, options: { limit?: number; skip?: ReadonlySet<string> } = {}): Promise<Array<{ run: Run; said: string[] }>> {
  const pending = (await deps.store.listRuns({ status: 'interrupted', limit: options.limit ?? 200 })).filter((run) => !options.skip?.has(run.id) && awaitsRemoval(deps, run));
  const results: Array<{ run: Run; said: string[] }> = [];
  for (const run of pending) results.push({ run, said: await clearRunLeftovers(deps, run) });
  return results;
}
