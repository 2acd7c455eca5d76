import { beforeEach, describe, expect, it } from 'vitest';
import type { Run } from '../../../src/domain/run.ts';
import { clearRunLeftovers, leftoversOf, retryPendingLeftovers, type RunLeftoverDeps } from '../../../src/procedures/run-leftovers.ts';
import { useTempStateStore } from '../../helpers/temp-store.ts';

const NOW = new Date('2026-11-26T10:00:00.000Z');

describe('leftovers of interrupted runs', () => {
  const temp = useTempStateStore('dr-leftovers');
  let removals: string[];
  beforeEach(() => {
    removals = [];
  });

  async function interruptedRun(id: string, options: { owner?: string; scratchLabel?: string } = {}): Promise<Run> {
    const run: Run = {
      id,
      procedure: 'verify-backup',
      actor: 'dr-bot',
      status: 'interrupted',
      startedAt: NOW.toISOString(),
      finishedAt: NOW.toISOString(),
      heartbeatAt: NOW.toISOString(),
      owner: options.owner ?? 'this-host:111',
      steps: [],
      summary: options.scratchLabel ? { leftovers: { scratchLabel: options.scratchLabel } } : {},
    };
    await temp.store.createRun(run);
    return run;
  }

  // A scratch database whose drop fails while `databaseDown` is set, as when the DMS database does not answer.
  function deps(state: { databaseDown: boolean }): RunLeftoverDeps {
    return {
      store: temp.store,
      now: () => NOW,
      ownerGone: (run) => run.owner.startsWith('this-host:'),
      async remove(run) {
        const label = leftoversOf(run)!.scratchLabel!;
        removals.push(label);
        if (state.databaseDown) return { said: [`could not remove its scratch database ${label}: connection refused`], pending: true };
        return { said: [`removed its unfinished scratch database ${label}`], pending: false };
      },
    };
  }

  it('drops a dead run’s scratch once, and records it so later sweeps leave it alone', async () => {
    const run = await interruptedRun('run-a', { scratchLabel: 'verify-a' });
    const up = deps({ databaseDown: false });
    expect(await clearRunLeftovers(up, run)).toEqual(['removed its unfinished scratch database verify-a']);
    expect(leftoversOf((await temp.store.getRun('run-a'))!)).toEqual({ scratchLabel: 'verify-a', removedAt: NOW.toISOString() });
    expect(await retryPendingLeftovers(up)).toEqual([]);
    expect(removals).toEqual(['verify-a']);
  });

  it('tries a failed drop again on the next sweep, until it succeeds', async () => {
    const run = await interruptedRun('run-b', { scratchLabel: 'verify-b' });
    const state = { databaseDown: true };
    expect(await clearRunLeftovers(deps(state), run)).toEqual(['could not remove its scratch database verify-b: connection refused']);
    expect(leftoversOf((await temp.store.getRun('run-b'))!)?.removedAt).toBeUndefined();
    // Still down: tried again, still pending.
    expect((await retryPendingLeftovers(deps(state))).map((r) => r.said)).toEqual([['could not remove its scratch database verify-b: connection refused']]);
    state.databaseDown = false;
    expect((await retryPendingLeftovers(deps(state))).map((r) => [r.run.id, r.said])).toEqual([['run-b', ['removed its unfinished scratch database verify-b']]]);
    expect(await retryPendingLeftovers(deps(state))).toEqual([]);
    expect(removals).toEqual(['verify-b', 'verify-b', 'verify-b']);
  });

  it('never touches the scratch of a run whose process may still be alive, nor runs without one, nor skipped runs', async () => {
    await interruptedRun('run-elsewhere', { owner: 'other-host:222', scratchLabel: 'verify-c' });
    await interruptedRun('run-plain');
    await interruptedRun('run-just-tried', { scratchLabel: 'verify-d' });
    expect(await retryPendingLeftovers(deps({ databaseDown: false }), { skip: new Set(['run-just-tried']) })).toEqual([]);
    expect(removals).toEqual([]);
  });

  it('reports a remover that throws (a deadline) as a line, and keeps the scratch pending', async () => {
    const run = await interruptedRun('run-e', { scratchLabel: 'verify-e' });
    const slow: RunLeftoverDeps = { ...deps({ databaseDown: false }), remove: () => Promise.reject(new Error('no answer within 15 s')) };
    expect(await clearRunLeftovers(slow, run)).toEqual(['could not remove its leftovers: no answer within 15 s']);
    expect(leftoversOf((await temp.store.getRun('run-e'))!)?.removedAt).toBeUndefined();
  });
});
