import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import type { Run, StepRecord } from '../../../src/domain/run.ts';
import { executeRun, markInterruptedRuns, type EngineDeps, type StepDefinition } from '../../../src/procedures/engine.ts';
import type { StateStore } from '../../../src/ports/state-store.ts';
import { captureLogs } from '../../helpers/logs.ts';
import { useTempStateStore } from '../../helpers/temp-store.ts';

const T0 = Date.parse('2026-11-26T10:00:00.000Z');
const OWNER = 'dr-host:4242';

const temp = useTempStateStore('dr-engine');

/** A clock that only moves when told, and engine deps over the real temp.store. */
function engine(options: { now?: () => Date; heartbeatMs?: number } = {}) {
  const clock = { now: T0 };
  const deps: EngineDeps = {
    store: temp.store,
    now: options.now ?? (() => new Date(clock.now)),
    owner: OWNER,
    logger: captureLogs('silent').logger,
    ...(options.heartbeatMs ? { heartbeatMs: options.heartbeatMs } : {}),
  };
  return { deps, clock };
}

async function storedRun(id: string): Promise<Run> {
  const run = await temp.store.getRun(id);
  if (!run) throw new Error(`run ${id} is not stored`);
  return run;
}

const statuses = (run: Run) => run.steps.map((s) => s.status);

describe('executeRun', () => {
  it('records what a crash would leave behind with the run, before its first step starts', async () => {
    const { deps } = engine();
    let seen: Run | undefined;
    let runId = '';
    await executeRun(
      deps,
      {
        procedure: 'restore-db',
        actor: 'U1',
        context: {},
        leftovers: { scratchLabel: '20261126T030000Z' },
        steps: [{ name: 'restore beside the live database', run: async () => void (seen = await storedRun(runId)) }],
      },
      (run) => (runId = run.id),
    );
    expect(seen?.summary.leftovers).toEqual({ scratchLabel: '20261126T030000Z' });
  });

  it('runs the steps in order over one context, persisting each step as running before it starts, and ends succeeded', async () => {
    const { deps, clock } = engine();
    interface Context {
      order: string[];
      rows: number;
    }
    const context: Context = { order: [], rows: 0 };
    let runId = '';
    const seenInside: Run[] = [];
    const observed: Run[] = [];
    const observe = (run: Run) => {
      runId = run.id;
      observed.push(run);
    };
    const step = (name: string, body: (c: Context) => string | void): StepDefinition<Context> => ({
      name,
      run: async (c) => {
        seenInside.push(await storedRun(runId));
        c.order.push(name);
        clock.now += 1_000;
        return body(c);
      },
    });

    const run = await executeRun(
      deps,
      {
        procedure: 'restore-db',
        gateId: 'gate-abc',
        actor: 'U_OPERATOR',
        channel: 'C_DR',
        messageTs: '1700000000.000100',
        context,
        steps: [
          step('stop the DMS', () => 'stopped'),
          step('restore the database', (c) => {
            c.rows = 42;
            return `${c.rows} rows`;
          }),
          step('start the DMS', () => undefined),
        ],
        summarize: (c, ended) => ({ rows: c.rows, doneSteps: ended.steps.filter((s) => s.status === 'done').length }),
      },
      observe,
    );

    expect(context.order).toEqual(['stop the DMS', 'restore the database', 'start the DMS']);

    // What the store held while each step ran: this step running, earlier ones done with their detail.
    expect(seenInside.map(statuses)).toEqual([
      ['running', 'pending', 'pending'],
      ['done', 'running', 'pending'],
      ['done', 'done', 'running'],
    ]);
    expect(seenInside.every((r) => r.status === 'running' && r.id === run.id)).toBe(true);
    expect(seenInside[1]!.steps[0]).toMatchObject({ detail: 'stopped', startedAt: new Date(T0).toISOString(), finishedAt: new Date(T0 + 1_000).toISOString() });
    expect(seenInside[2]!.steps[1]).toMatchObject({ detail: '42 rows' });
    expect(seenInside[2]!.steps[2]).toMatchObject({ startedAt: new Date(T0 + 2_000).toISOString() });

    expect(run).toMatchObject({ status: 'succeeded', procedure: 'restore-db', gateId: 'gate-abc', actor: 'U_OPERATOR', owner: OWNER, channel: 'C_DR', messageTs: '1700000000.000100' });
    expect(run.startedAt).toBe(new Date(T0).toISOString());
    expect(run.finishedAt).toBe(new Date(T0 + 3_000).toISOString());
    expect(statuses(run)).toEqual(['done', 'done', 'done']);
    expect(run.steps[2]!.detail).toBeUndefined();
    expect(run.summary).toEqual({ durationMs: 3_000, rows: 42, doneSteps: 3 });
    expect(await storedRun(run.id)).toEqual(run);

    // The observer saw the start, every step going running then done, and the end — in that order.
    expect(observed.map((r) => `${r.status}:${statuses(r).join(',')}`)).toEqual([
      'running:pending,pending,pending',
      'running:running,pending,pending',
      'running:done,pending,pending',
      'running:done,running,pending',
      'running:done,done,pending',
      'running:done,done,running',
      'running:done,done,done',
      'succeeded:done,done,done',
    ]);
    expect(observed.at(-1)).toEqual(run);
  });

  it('stops at a failing step: failed with the error text, later steps skipped and never called, onFailure runs and its notes land in the summary', async () => {
    const { deps } = engine();
    const context = { kept: 'alphha-before-restore.db' };
    const never = vi.fn(async () => 'should not run');
    let storedDuringCleanUp: Run | undefined;
    let runId = '';
    const onFailure = vi.fn(async (_c: typeof context, _failed: string) => {
      storedDuringCleanUp = await storedRun(runId);
      return ['started the DMS again', 'dropped the scratch database'];
    });

    const run = await executeRun(
      deps,
      {
        procedure: 'restore-db',
        actor: 'U_OPERATOR',
        context,
        steps: [
          { name: 'stop the DMS', run: async () => 'stopped' },
          {
            name: 'restore the database',
            run: async () => {
              throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
            },
          },
          { name: 'swap it in', run: never },
          { name: 'start the DMS', run: never },
        ],
        onFailure,
        summarize: () => ({ kept: context.kept }),
      },
      (r) => (runId = r.id),
    );

    expect(run.status).toBe('failed');
    expect(statuses(run)).toEqual(['done', 'failed', 'skipped', 'skipped']);
    expect(run.steps[1]).toMatchObject({ status: 'failed', detail: 'ENOSPC: no space left on device' });
    expect(run.steps[1]!.finishedAt).toBeDefined();
    expect(never).not.toHaveBeenCalled();
    expect(onFailure).toHaveBeenCalledTimes(1);
    expect(onFailure).toHaveBeenCalledWith(context, 'restore the database');
    // The failure was persisted before the clean-up ran.
    expect(storedDuringCleanUp && statuses(storedDuringCleanUp)).toEqual(['done', 'failed', 'skipped', 'skipped']);
    expect(run.summary).toMatchObject({
      failedStep: 'restore the database',
      reason: 'ENOSPC: no space left on device',
      recovery: ['started the DMS again', 'dropped the scratch database'],
      kept: 'alphha-before-restore.db',
      durationMs: expect.any(Number),
    });
    expect(await storedRun(run.id)).toEqual(run);
  });

  it('leaves recovery out of the summary when onFailure has nothing to say, or there is none', async () => {
    const { deps } = engine();
    const failing: StepDefinition<object> = {
      name: 'only step',
      run: async () => {
        throw new Error('boom');
      },
    };
    const silent = await executeRun(deps, { procedure: 'p', actor: 'a', context: {}, steps: [failing], onFailure: async () => [] });
    const none = await executeRun(deps, { procedure: 'p', actor: 'a', context: {}, steps: [failing] });
    for (const run of [silent, none]) {
      expect(run.status).toBe('failed');
      expect(run.summary).not.toHaveProperty('recovery');
      expect(run.summary).toMatchObject({ failedStep: 'only step', reason: 'boom' });
    }
  });

  it('carries on when the store fails to record progress: every step runs, and the end is recorded once the store answers again', async () => {
    const { deps } = engine();
    let failures = 2;
    const flaky = Object.create(temp.store) as StateStore;
    flaky.updateRun = (run: Run) => (failures-- > 0 ? Promise.reject(new Error('statement timeout')) : temp.store.updateRun(run));
    const ran: string[] = [];
    const run = await executeRun({ ...deps, store: flaky }, {
      procedure: 'restore-db',
      actor: 'U1',
      context: {},
      steps: ['stop', 'swap', 'start'].map((name) => ({ name, run: async () => void ran.push(name) })),
      summarize: () => ({ kept: 'the old one' }),
    });
    expect(ran).toEqual(['stop', 'swap', 'start']);
    expect(run.status).toBe('succeeded');
    expect(await storedRun(run.id)).toMatchObject({ status: 'succeeded', summary: { kept: 'the old one' } });
  });

  it('records the figures so far after every step, so a crash after the swap still leaves what was kept', async () => {
    const { deps } = engine();
    const context: { kept?: string } = {};
    let seenMidway: Run | undefined;
    await executeRun(deps, {
      procedure: 'restore-db',
      actor: 'U1',
      context,
      steps: [
        { name: 'swap', run: async (ctx) => void (ctx.kept = 'db_pre_1') },
        { name: 'start', run: async () => void (seenMidway = (await temp.store.listRuns({ status: 'running' }))[0]) },
      ],
      summarize: (ctx) => (ctx.kept ? { kept: ctx.kept } : {}),
    });
    expect(seenMidway?.summary).toMatchObject({ kept: 'db_pre_1' });
  });

  it('survives an onFailure that throws: the run still ends failed, with the clean-up error in recovery', async () => {
    const { deps } = engine();
    const run = await executeRun(deps, {
      procedure: 'restore-db',
      actor: 'U_OPERATOR',
      context: {},
      steps: [
        {
          name: 'swap it in',
          run: async () => {
            throw new Error('rename failed');
          },
        },
      ],
      onFailure: async () => {
        throw new Error('could not start the DMS');
      },
    });

    expect(run.status).toBe('failed');
    expect(run.steps[0]).toMatchObject({ status: 'failed', detail: 'rename failed' });
    expect(run.summary.recovery).toEqual(['clean-up failed: could not start the DMS']);
    expect(await storedRun(run.id)).toMatchObject({ status: 'failed', summary: { recovery: ['clean-up failed: could not start the DMS'] } });
  });

  it('refreshes the stored heartbeat while a long step runs, without touching the step, and the final stored state is the finished one', async () => {
    const { deps } = engine({ now: () => new Date(), heartbeatMs: 20 });
    let runId = '';
    const during: Run[] = [];

    const run = await executeRun(
      deps,
      {
        procedure: 'backup-db',
        actor: 'scheduler',
        context: {},
        steps: [
          {
            name: 'slow step',
            run: async () => {
              during.push(await storedRun(runId));
              await sleep(100);
              during.push(await storedRun(runId));
              return 'took a while';
            },
          },
          { name: 'quick step', run: async () => 'quick' },
        ],
      },
      (r) => (runId = r.id),
    );

    const [before, after] = during as [Run, Run];
    expect(Date.parse(after.heartbeatAt)).toBeGreaterThan(Date.parse(before.heartbeatAt));
    expect(Date.parse(after.heartbeatAt)).toBeGreaterThan(Date.parse(after.startedAt));
    // The heartbeat wrote the newest state: the step is still shown running.
    expect(statuses(after)).toEqual(['running', 'pending']);

    // Give a stray heartbeat time to land: none may overwrite the finished run.
    await sleep(80);
    const stored = await storedRun(run.id);
    expect(stored.status).toBe('succeeded');
    expect(stored.steps).toEqual(run.steps);
    expect(stored.steps.map((s) => s.detail)).toEqual(['took a while', 'quick']);
    expect(stored.finishedAt).toBe(run.finishedAt);
  });

  it('never lets a heartbeat put back an older step state, however often it beats', async () => {
    const { deps } = engine({ now: () => new Date(), heartbeatMs: 1 });
    let runId = '';
    const names = Array.from({ length: 15 }, (_, i) => `step ${i + 1}`);
    const problems: string[] = [];

    const run = await executeRun(
      deps,
      {
        procedure: 'p',
        actor: 'a',
        context: {},
        steps: names.map((name, index) => ({
          name,
          run: async () => {
            await sleep(3);
            const stored = await storedRun(runId);
            const expected: StepRecord['status'][] = names.map((_, i) => (i < index ? 'done' : i === index ? 'running' : 'pending'));
            if (statuses(stored).join() !== expected.join()) problems.push(`${name}: stored ${statuses(stored).join()}`);
            return `detail ${index + 1}`;
          },
        })),
      },
      (r) => (runId = r.id),
    );

    expect(problems).toEqual([]);
    await sleep(20);
    const stored = await storedRun(run.id);
    expect(stored.status).toBe('succeeded');
    expect(stored.steps.map((s) => s.detail)).toEqual(names.map((_, i) => `detail ${i + 1}`));
  });
});

describe('markInterruptedRuns', () => {
  const STALE_MS = 60_000;
  const NOW = T0 + 10 * 60_000;

  function runOf(id: string, owner: string, options: { heartbeatAgoMs?: number; steps?: StepRecord[]; status?: Run['status']; summary?: Record<string, unknown> } = {}): Run {
    return {
      id,
      procedure: 'restore-db',
      actor: 'U_OPERATOR',
      status: options.status ?? 'running',
      startedAt: new Date(T0).toISOString(),
      heartbeatAt: new Date(NOW - (options.heartbeatAgoMs ?? 1_000)).toISOString(),
      owner,
      steps: options.steps ?? [
        { name: 'stop the DMS', status: 'done', detail: 'stopped' },
        { name: 'restore the database', status: 'done', detail: '42 rows' },
        { name: 'swap it in', status: 'running', startedAt: new Date(T0 + 5_000).toISOString() },
        { name: 'start the DMS', status: 'pending' },
      ],
      summary: options.summary ?? {},
    };
  }

  async function mark(liveness: Record<string, boolean | undefined>) {
    const ownerAlive = vi.fn((owner: string) => liveness[owner]);
    const marked = await markInterruptedRuns({ store: temp.store, now: () => new Date(NOW), owner: OWNER }, { staleAfterMs: STALE_MS, ownerAlive });
    return { marked, ownerAlive };
  }

  it('marks a running run whose owner is dead as interrupted, with its running step failed and the last done step named', async () => {
    await temp.store.createRun(runOf('run-dead', 'dr-host:111', { summary: { kept: 'old.db' } }));

    const { marked } = await mark({ 'dr-host:111': false });

    expect(marked.map((r) => r.id)).toEqual(['run-dead']);
    const stored = await storedRun('run-dead');
    expect(stored).toMatchObject({ status: 'interrupted', finishedAt: new Date(NOW).toISOString() });
    expect(stored.steps.map((s) => [s.name, s.status])).toEqual([
      ['stop the DMS', 'done'],
      ['restore the database', 'done'],
      ['swap it in', 'failed'],
      ['start the DMS', 'pending'],
    ]);
    expect(stored.steps[2]!.detail).toMatch(/interrupted/);
    expect(stored.steps[0]!.detail).toBe('stopped');
    expect(stored.summary).toEqual({ kept: 'old.db', interruptedAfter: 'restore the database' });
    expect(marked[0]).toEqual(stored);
    // Done once: a second sweep finds nothing.
    expect((await mark({ 'dr-host:111': false })).marked).toEqual([]);
  });

  it('says so when no step had finished', async () => {
    await temp.store.createRun(runOf('run-early', 'dr-host:111', { steps: [{ name: 'stop the DMS', status: 'running' }, { name: 'start the DMS', status: 'pending' }] }));
    await mark({ 'dr-host:111': false });
    const stored = await storedRun('run-early');
    expect(stored.status).toBe('interrupted');
    expect(stored.summary.interruptedAfter).toMatch(/^nothing/);
  });

  it('marks a dead owner\'s run even when its heartbeat is fresh, and leaves a live owner\'s run alone even when stale', async () => {
    await temp.store.createRun(runOf('run-dead-fresh', 'dr-host:111', { heartbeatAgoMs: 10 }));
    await temp.store.createRun(runOf('run-alive-stale', 'dr-host:222', { heartbeatAgoMs: 60 * 60_000 }));

    const { marked } = await mark({ 'dr-host:111': false, 'dr-host:222': true });

    expect(marked.map((r) => r.id)).toEqual(['run-dead-fresh']);
    const alive = await storedRun('run-alive-stale');
    expect(alive).toEqual(runOf('run-alive-stale', 'dr-host:222', { heartbeatAgoMs: 60 * 60_000 }));
  });

  it('with unknown liveness, marks a run only once its heartbeat is staleAfterMs old', async () => {
    await temp.store.createRun(runOf('run-stale', 'replica-b', { heartbeatAgoMs: STALE_MS + 30_000 }));
    await temp.store.createRun(runOf('run-just-stale', 'replica-c', { heartbeatAgoMs: STALE_MS }));
    await temp.store.createRun(runOf('run-fresh', 'replica-d', { heartbeatAgoMs: STALE_MS - 1 }));

    const { marked } = await mark({});

    expect(marked.map((r) => r.id).sort()).toEqual(['run-just-stale', 'run-stale']);
    expect((await storedRun('run-stale')).status).toBe('interrupted');
    expect((await storedRun('run-just-stale')).status).toBe('interrupted');
    expect((await storedRun('run-fresh')).status).toBe('running');
    expect(statuses(await storedRun('run-fresh'))).toEqual(['done', 'done', 'running', 'pending']);
  });

  it("never marks the caller's own runs, whatever their heartbeat or reported liveness", async () => {
    await temp.store.createRun(runOf('run-mine', OWNER, { heartbeatAgoMs: 60 * 60_000 }));

    const { marked } = await mark({ [OWNER]: false });

    expect(marked).toEqual([]);
    expect((await storedRun('run-mine')).status).toBe('running');
  });

  it('leaves runs that already ended alone', async () => {
    await temp.store.createRun(runOf('run-done', 'dr-host:111', { status: 'succeeded', steps: [{ name: 'only', status: 'done' }] }));
    await temp.store.createRun(runOf('run-failed', 'dr-host:111', { status: 'failed', steps: [{ name: 'only', status: 'failed', detail: 'boom' }] }));

    const { marked } = await mark({ 'dr-host:111': false });

    expect(marked).toEqual([]);
    expect((await storedRun('run-done')).status).toBe('succeeded');
    expect(await storedRun('run-failed')).toMatchObject({ status: 'failed', steps: [{ status: 'failed', detail: 'boom' }] });
  });
});
