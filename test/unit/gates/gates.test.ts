import { describe, expect, it } from 'vitest';
import { configFileSchema } from '../../../src/config/schema.ts';
import { DrError, type DrErrorCode } from '../../../src/domain/errors.ts';
import type { Gate, GateState } from '../../../src/domain/gate.ts';
import { sealPlan, type Plan } from '../../../src/domain/plan.ts';
import { approveGate, confirmGate, expireGates, openGate, rejectGate, type GateActor, type GateDeps } from '../../../src/gates/gates.ts';
import type { StateStore } from '../../../src/ports/state-store.ts';
import { useTempStateStore } from '../../helpers/temp-store.ts';

const SYSTEM = 'alphha-dms';
const T0 = Date.parse('2026-11-26T10:00:00.000Z');
const FIFTEEN_MINUTES = 15 * 60_000;

// Who is who: the requester and the confirming operator are approvers too, so the
// "you cannot approve your own plan" rule is what refuses them, not a missing role.
const REQUESTER = 'U_REQUESTER';
const OPERATOR = 'U_OPERATOR';
const APPROVERS = Array.from({ length: 10 }, (_, i) => `U_APPROVER_${i + 1}`);
const STRANGER = 'U_STRANGER';
const SECURITY = 'U_SECURITY';
const OPERATORS = [REQUESTER, OPERATOR];
const APPROVER_ROLE = [...APPROVERS, REQUESTER, OPERATOR];

const slack = (actor: string): GateActor => ({ source: 'slack', actor, channel: 'C_DR' });

function makePlan(backupId = 'db-20261126T030000Z-3f9a'): Plan {
  return sealPlan({
    procedure: 'restore-db',
    gate: 'restore',
    title: `Restore the DMS database from ${backupId}`,
    target: 'sqlite:/srv/alphha/alphha.db',
    steps: ['Stop the DMS', 'Restore beside the live database', 'Swap it in', 'Start the DMS'],
    backups: [{ id: backupId, kind: 'db', finishedAt: '2026-11-26T03:00:00.000Z', sizeBytes: 1024, verifiedAt: '2026-11-26T03:00:05.000Z', pointInTime: '2026-11-26T03:00:00.000Z' }],
    notes: [],
    request: { backup: 'latest' },
    input: { backupId },
    madeAt: new Date(T0).toISOString(),
  });
}

interface AuditEvent {
  event: string;
  actor: string;
  gateId: string;
  state: GateState;
  detail: Record<string, unknown> | undefined;
}

interface Harness {
  deps: GateDeps;
  store: StateStore;
  events: AuditEvent[];
  /** Milliseconds since the epoch the gate clock reads. */
  clock: { now: number };
  /** What replan() returns next (defaults to the plan the gate was opened with). */
  replanned: { plan: Plan | undefined; calls: number };
  plan: Plan;
  eventsNamed(name: string): AuditEvent[];
  stored(id: string): Promise<Gate>;
}

const temp = useTempStateStore('dr-gates');

function harness(options: { approvals?: number; expires?: string } = {}): Harness {
  const config = configFileSchema.parse({
    system: { name: SYSTEM },
    slack: { roles: { operators: OPERATORS, approvers: APPROVER_ROLE } },
    gates: { restore: { approvals: options.approvals ?? 1, expires: options.expires ?? '15m' } },
  });
  const events: AuditEvent[] = [];
  const clock = { now: T0 };
  const plan = makePlan();
  const replanned: Harness['replanned'] = { plan: undefined, calls: 0 };
  const deps: GateDeps = {
    store: temp.store,
    config,
    now: () => new Date(clock.now),
    audit: async (who, event, gate, detail) => {
      events.push({ event, actor: who.actor, gateId: gate.id, state: gate.state, detail });
    },
    replan: async (gate) => {
      replanned.calls += 1;
      // Yield to the event loop so concurrent callers really interleave between their read and their write.
      await new Promise((resolve) => setImmediate(resolve));
      return replanned.plan ?? gate.plan;
    },
    holdsRole: async (role, user) => ({ operators: OPERATORS, approvers: APPROVER_ROLE, security: [SECURITY] })[role].includes(user),
  };
  return {
    deps,
    store: temp.store,
    events,
    clock,
    replanned,
    plan,
    eventsNamed: (name) => events.filter((e) => e.event === name),
    stored: async (id) => {
      const gate = await temp.store.getGate(id);
      if (!gate) throw new Error(`gate ${id} is not stored`);
      return gate;
    },
  };
}

async function refusal(promise: Promise<unknown>, code: DrErrorCode): Promise<DrError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected a ${code} refusal`).toBeInstanceOf(DrError);
  expect((error as DrError).code).toBe(code);
  return error as DrError;
}

/** An open gate moved past its typed confirmation (by OPERATOR), waiting for approvals. */
async function confirmedGate(h: Harness): Promise<Gate> {
  const gate = await openGate(h.deps, h.plan, slack(REQUESTER));
  const progress = await confirmGate(h.deps, gate.id, slack(OPERATOR), SYSTEM);
  expect(progress.kind).toBe('awaiting_approval');
  return progress.gate;
}

describe('openGate', () => {
  it('stores the gate awaiting confirmation, with approvals and expiry from the gate config, and audits plan_proposed', async () => {
    const h = harness({ approvals: 2, expires: '10m' });
    const gate = await openGate(h.deps, h.plan, slack(REQUESTER));

    expect(gate).toMatchObject({ state: 'awaiting_confirmation', approvalsNeeded: 2, approvals: [], requester: REQUESTER, channel: 'C_DR', source: 'slack', procedure: 'restore-db', gate: 'restore' });
    expect(gate.createdAt).toBe(new Date(T0).toISOString());
    expect(gate.expiresAt).toBe(new Date(T0 + 10 * 60_000).toISOString());
    expect(gate.plan.hash).toBe(h.plan.hash);

    const stored = await h.stored(gate.id);
    expect(stored).toMatchObject({ state: 'awaiting_confirmation', version: 0, approvalsNeeded: 2, expiresAt: gate.expiresAt });
    expect(stored.plan.hash).toBe(h.plan.hash);

    expect(h.events).toHaveLength(1);
    expect(h.events[0]).toMatchObject({ event: 'plan_proposed', actor: REQUESTER, gateId: gate.id });
    expect(h.events[0]!.detail).toMatchObject({ planHash: h.plan.hash, approvalsNeeded: 2, expiresAt: gate.expiresAt });
  });

  it('gives every gate its own id', async () => {
    const h = harness();
    const a = await openGate(h.deps, h.plan, slack(REQUESTER));
    const b = await openGate(h.deps, h.plan, slack(REQUESTER));
    expect(a.id).not.toBe(b.id);
  });
});

describe('confirmGate', () => {
  it('refuses a wrong system name with GATE_REFUSED, changes nothing, and audits confirm_wrong_name', async () => {
    const h = harness({ approvals: 1 });
    const gate = await openGate(h.deps, h.plan, slack(REQUESTER));

    for (const typed of ['alphha-dm', 'ALPHHA-DMS', '', 'alphha-dms!']) {
      const error = await refusal(confirmGate(h.deps, gate.id, slack(OPERATOR), typed), 'GATE_REFUSED');
      expect(error.userMessage).toContain(SYSTEM);
    }

    const stored = await h.stored(gate.id);
    expect(stored).toMatchObject({ state: 'awaiting_confirmation', version: 0 });
    expect(stored.confirmedBy).toBeUndefined();
    expect(h.eventsNamed('confirm_wrong_name')).toHaveLength(4);
    expect(h.eventsNamed('confirm_wrong_name')[0]).toMatchObject({ actor: OPERATOR, gateId: gate.id });
    expect(h.replanned.calls).toBe(0);
  });

  it('refuses a Slack user who is not an operator with NOT_AUTHORIZED, even with the right name, and audits confirm_denied', async () => {
    const h = harness({ approvals: 0 });
    const gate = await openGate(h.deps, h.plan, slack(REQUESTER));

    // An approver is not an operator either.
    for (const actor of [STRANGER, APPROVERS[0]!]) {
      await refusal(confirmGate(h.deps, gate.id, slack(actor), SYSTEM), 'NOT_AUTHORIZED');
    }

    expect(await h.stored(gate.id)).toMatchObject({ state: 'awaiting_confirmation', version: 0 });
    expect(h.eventsNamed('confirm_denied').map((e) => e.actor)).toEqual([STRANGER, APPROVERS[0]]);
    expect(h.eventsNamed('run_started')).toHaveLength(0);
  });

  it('lets a security responder confirm an isolate or rotate-secrets plan, but not a restore', async () => {
    const h = harness({ approvals: 0 });
    const restore = await openGate(h.deps, h.plan, slack(REQUESTER));
    const denied = await refusal(confirmGate(h.deps, restore.id, slack(SECURITY), SYSTEM), 'NOT_AUTHORIZED');
    expect(denied.userMessage).toBe('Only operators (slack.roles.operators) can confirm this plan. Nothing was run.');
    for (const [procedure, gateName] of [['isolate', 'isolate'], ['rotate-secrets', 'rotate-secrets']] as const) {
      const plan = sealPlan({ ...makePlan(), procedure, gate: gateName, title: procedure, backups: [] });
      const gate = await openGate(h.deps, plan, slack(SECURITY));
      const progress = await confirmGate(h.deps, gate.id, slack(SECURITY), SYSTEM);
      // rotate-secrets needs its approval (the default gate config), isolate none.
      expect(progress.kind).toBe(procedure === 'isolate' ? 'execute' : 'awaiting_approval');
      const stranger = await refusal(confirmGate(h.deps, (await openGate(h.deps, plan, slack(SECURITY))).id, slack(APPROVERS[0]!), SYSTEM), 'NOT_AUTHORIZED');
      expect(stranger.userMessage).toContain('slack.roles.operators or slack.roles.security');
    }
  });

  it('moves an approvals-1 gate to awaiting_approval with confirmedBy, audited plan_confirmed', async () => {
    const h = harness({ approvals: 1 });
    const gate = await openGate(h.deps, h.plan, slack(REQUESTER));

    // Surrounding whitespace is forgiven; the name itself must be exact.
    const progress = await confirmGate(h.deps, gate.id, slack(OPERATOR), `  ${SYSTEM}\n`);

    expect(progress.kind).toBe('awaiting_approval');
    expect(progress.gate).toMatchObject({ state: 'awaiting_approval', confirmedBy: OPERATOR, approvals: [], version: 1 });
    expect(await h.stored(gate.id)).toMatchObject({ state: 'awaiting_approval', confirmedBy: OPERATOR, version: 1 });
    expect(h.eventsNamed('plan_confirmed')).toEqual([expect.objectContaining({ actor: OPERATOR, state: 'awaiting_approval' })]);
    expect(h.eventsNamed('run_started')).toHaveLength(0);
  });

  it('refuses to start while another destructive run is still going, and not because of a crashed one', async () => {
    const h = harness({ approvals: 0 });
    const running = { id: 'run-busy', procedure: 'restore-db', actor: 'U', status: 'running' as const, startedAt: '2026-01-01T00:00:00.000Z', heartbeatAt: '2026-01-01T00:00:00.000Z', owner: 'elsewhere', steps: [], summary: {} };
    await temp.store.createRun(running);
    const gate = await openGate(h.deps, h.plan, slack(REQUESTER));
    await expect(confirmGate({ ...h.deps, runAlive: () => true }, gate.id, slack(OPERATOR), SYSTEM)).rejects.toMatchObject({ code: 'GATE_REFUSED', userMessage: expect.stringContaining('run-busy') });
    expect((await h.stored(gate.id)).state).toBe('awaiting_confirmation');
    expect(h.eventsNamed('run_refused_busy')).toHaveLength(1);
    // A run whose process is gone blocks nothing.
    expect((await confirmGate({ ...h.deps, runAlive: () => false }, gate.id, slack(OPERATOR), SYSTEM)).kind).toBe('execute');
    await temp.store.updateRun({ ...running, status: 'interrupted' });
  });

  it('runs nothing when the gate expires while the plan is being made again at the last step', async () => {
    const h = harness({ approvals: 0 });
    const gate = await openGate(h.deps, h.plan, slack(REQUESTER));
    h.clock.now = T0 + FIFTEEN_MINUTES - 1;
    const slowReplan = { ...h.deps, replan: async (g: Gate) => { h.clock.now = T0 + FIFTEEN_MINUTES + 1; return h.deps.replan(g); } };
    await expect(confirmGate(slowReplan, gate.id, slack(OPERATOR), SYSTEM)).rejects.toMatchObject({ code: 'GATE_REFUSED', userMessage: expect.stringContaining('expired') });
    expect((await h.stored(gate.id)).state).toBe('expired');
    expect(h.eventsNamed('run_started')).toHaveLength(0);
  });

  it('hands an approvals-0 gate straight to execution: kind execute, state running', async () => {
    const h = harness({ approvals: 0 });
    const gate = await openGate(h.deps, h.plan, slack(REQUESTER));

    const progress = await confirmGate(h.deps, gate.id, slack(OPERATOR), SYSTEM);

    expect(progress.kind).toBe('execute');
    expect(progress.gate).toMatchObject({ id: gate.id, state: 'running', confirmedBy: OPERATOR });
    expect(await h.stored(gate.id)).toMatchObject({ state: 'running', confirmedBy: OPERATOR, version: 1 });
    expect(h.eventsNamed('run_started')).toEqual([expect.objectContaining({ actor: OPERATOR, state: 'running' })]);
    expect(h.replanned.calls).toBe(1);
  });

  it('lets a terminal user confirm without a Slack role (the operator check is for Slack users)', async () => {
    const h = harness({ approvals: 0 });
    const gate = await openGate(h.deps, h.plan, { source: 'cli', actor: 'root@dr-host', channel: 'terminal' });
    const progress = await confirmGate(h.deps, gate.id, { source: 'cli', actor: 'root@dr-host', channel: 'terminal' }, SYSTEM);
    expect(progress.kind).toBe('execute');
  });

  it('refuses a second confirmation once the gate has moved on', async () => {
    const h = harness({ approvals: 1 });
    const gate = await confirmedGate(h);
    await refusal(confirmGate(h.deps, gate.id, slack(OPERATOR), SYSTEM), 'GATE_REFUSED');
    expect(await h.stored(gate.id)).toMatchObject({ state: 'awaiting_approval', version: 1 });
    expect(h.eventsNamed('gate_transition_refused')).toHaveLength(1);
  });

  it('refuses an unknown gate id', async () => {
    const h = harness();
    await refusal(confirmGate(h.deps, 'gate-nope', slack(OPERATOR), SYSTEM), 'GATE_REFUSED');
  });

  it('runs exactly once when ten confirmations with the right name arrive together', async () => {
    const h = harness({ approvals: 0 });
    const gate = await openGate(h.deps, h.plan, slack(REQUESTER));

    const results = await Promise.allSettled(Array.from({ length: 10 }, () => confirmGate(h.deps, gate.id, slack(OPERATOR), SYSTEM)));

    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(won[0]!.status === 'fulfilled' && won[0]!.value.kind).toBe('execute');
    expect(lost).toHaveLength(9);
    for (const r of lost) {
      expect(r.reason).toBeInstanceOf(DrError);
      expect((r.reason as DrError).code).toBe('GATE_REFUSED');
    }
    expect(await h.stored(gate.id)).toMatchObject({ state: 'running', version: 1 });
    expect(h.eventsNamed('run_started')).toHaveLength(1);
    // The race really reached the compare-and-set: more than one caller got as far as re-planning.
    expect(h.replanned.calls).toBeGreaterThan(1);
  });
});

describe('approveGate', () => {
  it('refuses the requester, the confirmer, a non-approver and an approval for another plan hash — each audited, nothing changed', async () => {
    const h = harness({ approvals: 1 });
    const gate = await confirmedGate(h);

    await refusal(approveGate(h.deps, gate.id, slack(REQUESTER), gate.plan.hash), 'NOT_AUTHORIZED');
    await refusal(approveGate(h.deps, gate.id, slack(OPERATOR), gate.plan.hash), 'NOT_AUTHORIZED');
    await refusal(approveGate(h.deps, gate.id, slack(STRANGER), gate.plan.hash), 'NOT_AUTHORIZED');
    const wrongHash = makePlan('db-20261125T030000Z-0000').hash;
    const hashError = await refusal(approveGate(h.deps, gate.id, slack(APPROVERS[0]!), wrongHash), 'NOT_AUTHORIZED');
    expect(hashError.userMessage).toMatch(/different version of the plan/);

    expect(h.eventsNamed('approval_denied').map((e) => [e.actor, e.detail?.reason])).toEqual([
      [REQUESTER, 'requester cannot approve'],
      [OPERATOR, 'requester cannot approve'],
      [STRANGER, 'not an approver'],
      [APPROVERS[0], 'approval for another plan'],
    ]);
    const stored = await h.stored(gate.id);
    expect(stored).toMatchObject({ state: 'awaiting_approval', version: 1, approvals: [] });
    expect(h.eventsNamed('run_started')).toHaveLength(0);
    expect(h.replanned.calls).toBe(0);
  });

  it('lets an approver with the right hash start the run', async () => {
    const h = harness({ approvals: 1 });
    const gate = await confirmedGate(h);

    const progress = await approveGate(h.deps, gate.id, slack(APPROVERS[0]!), gate.plan.hash);

    expect(progress.kind).toBe('execute');
    expect(progress.gate).toMatchObject({ state: 'running', approvals: [APPROVERS[0]], confirmedBy: OPERATOR });
    expect(await h.stored(gate.id)).toMatchObject({ state: 'running', approvals: [APPROVERS[0]], version: 2 });
    expect(h.eventsNamed('plan_approved')).toEqual([expect.objectContaining({ actor: APPROVERS[0], detail: expect.objectContaining({ approvals: 1, needed: 1 }) })]);
    expect(h.eventsNamed('run_started')).toEqual([expect.objectContaining({ actor: APPROVERS[0] })]);
  });

  it('does not start a run whose run_started audit row cannot be written: STATE_UNAVAILABLE, the gate void', async () => {
    const h = harness({ approvals: 1 });
    const gate = await confirmedGate(h);
    const audit = h.deps.audit;
    h.deps.audit = async (who, event, g, detail, options) => {
      if (options?.required) throw new DrError('STATE_UNAVAILABLE', 'The audit log cannot be written (disk full). Nothing was run.');
      return audit(who, event, g, detail, options);
    };

    const error = await refusal(approveGate(h.deps, gate.id, slack(APPROVERS[0]!), gate.plan.hash), 'STATE_UNAVAILABLE');

    expect(error.userMessage).toContain('Nothing was run');
    expect(await h.stored(gate.id)).toMatchObject({ state: 'void', closedReason: 'the audit log could not be written' });
    expect(h.eventsNamed('run_started')).toEqual([]);
  });

  it('refuses approval before the typed confirmation', async () => {
    const h = harness({ approvals: 1 });
    const gate = await openGate(h.deps, h.plan, slack(REQUESTER));
    await refusal(approveGate(h.deps, gate.id, slack(APPROVERS[0]!), gate.plan.hash), 'GATE_REFUSED');
    expect(await h.stored(gate.id)).toMatchObject({ state: 'awaiting_confirmation', version: 0 });
  });

  it('needs two different approvers when approvalsNeeded is 2', async () => {
    const h = harness({ approvals: 2 });
    const gate = await confirmedGate(h);
    const [first, second] = [APPROVERS[0]!, APPROVERS[1]!];

    const one = await approveGate(h.deps, gate.id, slack(first), gate.plan.hash);
    expect(one.kind).toBe('awaiting_approval');
    expect(one.gate).toMatchObject({ state: 'awaiting_approval', approvals: [first] });
    expect(await h.stored(gate.id)).toMatchObject({ state: 'awaiting_approval', approvals: [first], version: 2 });

    await refusal(approveGate(h.deps, gate.id, slack(first), gate.plan.hash), 'NOT_AUTHORIZED');
    expect(h.eventsNamed('approval_denied')).toEqual([expect.objectContaining({ actor: first, detail: { reason: 'already approved' } })]);
    expect(await h.stored(gate.id)).toMatchObject({ state: 'awaiting_approval', approvals: [first], version: 2 });
    expect(h.eventsNamed('run_started')).toHaveLength(0);

    const two = await approveGate(h.deps, gate.id, slack(second), gate.plan.hash);
    expect(two.kind).toBe('execute');
    expect(await h.stored(gate.id)).toMatchObject({ state: 'running', approvals: [first, second] });
    expect(h.eventsNamed('run_started')).toEqual([expect.objectContaining({ actor: second })]);
  });

  it('runs exactly once when ten different approvers approve an approvals-1 gate together', async () => {
    const h = harness({ approvals: 1 });
    const gate = await confirmedGate(h);

    const results = await Promise.allSettled(APPROVERS.map((approver) => approveGate(h.deps, gate.id, slack(approver), gate.plan.hash)));

    const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    expect(won.map((p) => p.kind)).toEqual(['execute']);
    expect(lost).toHaveLength(9);
    for (const reason of lost) expect(reason).toMatchObject({ code: 'GATE_REFUSED' });

    const stored = await h.stored(gate.id);
    expect(stored.state).toBe('running');
    expect(stored.approvals).toHaveLength(1);
    expect(stored.approvals).toEqual(won[0]!.gate.approvals);
    expect(h.eventsNamed('run_started')).toHaveLength(1);
    // Only the approval that counted is in the audit log, under the approver the gate records.
    expect(h.eventsNamed('plan_approved').map((e) => e.actor)).toEqual(stored.approvals);
    expect(h.replanned.calls).toBeGreaterThan(1);
  });
});

describe('expiry', () => {
  it('still accepts a confirmation a moment before expiresAt', async () => {
    const h = harness({ approvals: 0 });
    const gate = await openGate(h.deps, h.plan, slack(REQUESTER));
    h.clock.now = T0 + FIFTEEN_MINUTES - 1;
    expect((await confirmGate(h.deps, gate.id, slack(OPERATOR), SYSTEM)).kind).toBe('execute');
  });

  it('refuses a confirmation after expiresAt, marks the gate expired and audits plan_expired', async () => {
    const h = harness({ approvals: 0 });
    const gate = await openGate(h.deps, h.plan, slack(REQUESTER));
    h.clock.now = T0 + FIFTEEN_MINUTES + 1;

    const error = await refusal(confirmGate(h.deps, gate.id, slack(OPERATOR), SYSTEM), 'GATE_REFUSED');
    expect(error.userMessage).toMatch(/expired/);
    expect(error.userMessage).toContain(gate.expiresAt);

    expect(await h.stored(gate.id)).toMatchObject({ state: 'expired', closedReason: 'expired' });
    expect(h.eventsNamed('plan_expired')).toEqual([expect.objectContaining({ gateId: gate.id, state: 'expired' })]);
    expect(h.eventsNamed('run_started')).toHaveLength(0);
    expect(h.replanned.calls).toBe(0);

    // And it stays shut: a later attempt is refused as expired without another expiry row.
    const again = await refusal(confirmGate(h.deps, gate.id, slack(OPERATOR), SYSTEM), 'GATE_REFUSED');
    expect(again.userMessage).toMatch(/expired/);
    expect(h.eventsNamed('plan_expired')).toHaveLength(1);
  });

  it('refuses an approval after expiresAt and marks the gate expired', async () => {
    const h = harness({ approvals: 1 });
    const gate = await confirmedGate(h);
    h.clock.now = T0 + FIFTEEN_MINUTES + 60_000;

    const error = await refusal(approveGate(h.deps, gate.id, slack(APPROVERS[0]!), gate.plan.hash), 'GATE_REFUSED');
    expect(error.userMessage).toMatch(/expired/);
    expect(await h.stored(gate.id)).toMatchObject({ state: 'expired' });
    expect(h.eventsNamed('plan_expired')).toHaveLength(1);
    expect(h.eventsNamed('run_started')).toHaveLength(0);
  });

  it('expireGates marks only open gates past their expiry, audited plan_expired', async () => {
    const h = harness({ approvals: 1 });
    const waitingConfirmation = await openGate(h.deps, h.plan, slack(REQUESTER));
    const waitingApproval = await confirmedGate(h);
    const rejected = await openGate(h.deps, h.plan, slack(REQUESTER));
    await rejectGate(h.deps, rejected.id, slack(APPROVERS[0]!));
    h.clock.now = T0 + 10 * 60_000;
    const younger = await openGate(h.deps, h.plan, slack(REQUESTER)); // expires at T0 + 25m

    h.clock.now = T0 + FIFTEEN_MINUTES + 1;
    h.events.length = 0;
    const all = await Promise.all([waitingConfirmation, waitingApproval, rejected, younger].map((g) => h.stored(g.id)));
    const expired = await expireGates(h.deps, all);

    expect(expired.map((g) => g.id).sort()).toEqual([waitingConfirmation.id, waitingApproval.id].sort());
    for (const g of expired) expect(g).toMatchObject({ state: 'expired', closedReason: 'expired' });
    expect((await h.stored(waitingConfirmation.id)).state).toBe('expired');
    expect((await h.stored(waitingApproval.id)).state).toBe('expired');
    expect((await h.stored(rejected.id)).state).toBe('rejected');
    expect(await h.stored(younger.id)).toMatchObject({ state: 'awaiting_confirmation', version: 0 });
    expect(h.events.map((e) => [e.event, e.gateId, e.actor]).sort()).toEqual(
      [
        ['plan_expired', waitingConfirmation.id, 'dr-bot'],
        ['plan_expired', waitingApproval.id, 'dr-bot'],
      ].sort(),
    );

    // Run again later: the already expired ones are left alone, the younger one now goes.
    h.clock.now = T0 + 25 * 60_000;
    const again = await expireGates(h.deps, await Promise.all(all.map((g) => h.stored(g.id))));
    expect(again.map((g) => g.id)).toEqual([younger.id]);
  });
});

describe('plan changed before it ran', () => {
  it('voids an approvals-0 gate at confirmation when replan gives another hash; nothing executes', async () => {
    const h = harness({ approvals: 0 });
    const gate = await openGate(h.deps, h.plan, slack(REQUESTER));
    const newer = makePlan('db-20261126T040000Z-beef');
    expect(newer.hash).not.toBe(h.plan.hash);
    h.replanned.plan = newer;

    const progress = await confirmGate(h.deps, gate.id, slack(OPERATOR), SYSTEM);

    expect(progress.kind).toBe('void');
    if (progress.kind !== 'void') return;
    expect(progress.newPlan.hash).toBe(newer.hash);
    expect(progress.gate.state).toBe('void');
    expect(await h.stored(gate.id)).toMatchObject({ state: 'void' });
    expect(h.eventsNamed('plan_void')).toEqual([expect.objectContaining({ detail: { oldHash: h.plan.hash, newHash: newer.hash } })]);
    expect(h.eventsNamed('run_started')).toHaveLength(0);

    // A void gate cannot be confirmed again.
    await refusal(confirmGate(h.deps, gate.id, slack(OPERATOR), SYSTEM), 'GATE_REFUSED');
    expect((await h.stored(gate.id)).state).toBe('void');
  });

  it('voids at the final approval when the plan changed after confirmation', async () => {
    const h = harness({ approvals: 1 });
    const gate = await confirmedGate(h);
    h.replanned.plan = makePlan('db-20261126T040000Z-beef');

    const progress = await approveGate(h.deps, gate.id, slack(APPROVERS[0]!), gate.plan.hash);

    expect(progress.kind).toBe('void');
    expect(progress.kind === 'void' && progress.newPlan.hash).toBe(h.replanned.plan.hash);
    expect(await h.stored(gate.id)).toMatchObject({ state: 'void' });
    expect(h.eventsNamed('plan_void')).toHaveLength(1);
    expect(h.eventsNamed('run_started')).toHaveLength(0);
  });
});

describe('break glass', () => {
  it('skips the approvals of an approvals-1 gate, loudly: execute, audited break_glass', async () => {
    const h = harness({ approvals: 1 });
    const gate = await openGate(h.deps, h.plan, slack(REQUESTER));

    const progress = await confirmGate(h.deps, gate.id, slack(OPERATOR), SYSTEM, { breakGlass: true });

    expect(progress.kind).toBe('execute');
    expect(await h.stored(gate.id)).toMatchObject({ state: 'running', confirmedBy: OPERATOR, approvals: [] });
    expect(h.eventsNamed('break_glass')).toEqual([expect.objectContaining({ actor: OPERATOR, detail: { approvalsSkipped: 1 } })]);
    const order = h.events.map((e) => e.event);
    expect(order.indexOf('break_glass')).toBeLessThan(order.indexOf('run_started'));
  });

  it('still needs the right name: a wrong one breaks nothing', async () => {
    const h = harness({ approvals: 1 });
    const gate = await openGate(h.deps, h.plan, slack(REQUESTER));
    await refusal(confirmGate(h.deps, gate.id, slack(OPERATOR), 'wrong', { breakGlass: true }), 'GATE_REFUSED');
    expect(h.eventsNamed('break_glass')).toHaveLength(0);
    expect((await h.stored(gate.id)).state).toBe('awaiting_confirmation');
  });

  it('is not audited when the gate needs no approvals anyway', async () => {
    const h = harness({ approvals: 0 });
    const gate = await openGate(h.deps, h.plan, slack(REQUESTER));
    expect((await confirmGate(h.deps, gate.id, slack(OPERATOR), SYSTEM, { breakGlass: true })).kind).toBe('execute');
    expect(h.eventsNamed('break_glass')).toHaveLength(0);
  });
});

describe('rejectGate', () => {
  it('cancels when the requester turns it down', async () => {
    const h = harness();
    const gate = await openGate(h.deps, h.plan, slack(REQUESTER));
    const closed = await rejectGate(h.deps, gate.id, slack(REQUESTER));
    expect(closed).toMatchObject({ state: 'cancelled', closedReason: `cancelled by ${REQUESTER}` });
    expect((await h.stored(gate.id)).state).toBe('cancelled');
    expect(h.eventsNamed('plan_cancelled')).toHaveLength(1);
    // Nothing can be confirmed afterwards.
    await refusal(confirmGate(h.deps, gate.id, slack(OPERATOR), SYSTEM), 'GATE_REFUSED');
  });

  it('rejects when an approver turns it down (also while awaiting approval)', async () => {
    const h = harness({ approvals: 1 });
    const gate = await confirmedGate(h);
    const closed = await rejectGate(h.deps, gate.id, slack(APPROVERS[3]!));
    expect(closed).toMatchObject({ state: 'rejected', closedReason: `rejected by ${APPROVERS[3]}` });
    expect((await h.stored(gate.id)).state).toBe('rejected');
    expect(h.eventsNamed('plan_rejected')).toEqual([expect.objectContaining({ actor: APPROVERS[3] })]);
    await refusal(approveGate(h.deps, gate.id, slack(APPROVERS[0]!), gate.plan.hash), 'GATE_REFUSED');
  });

  it('refuses a stranger with NOT_AUTHORIZED and leaves the gate open', async () => {
    const h = harness();
    const gate = await openGate(h.deps, h.plan, slack(REQUESTER));
    await refusal(rejectGate(h.deps, gate.id, slack(STRANGER)), 'NOT_AUTHORIZED');
    expect(await h.stored(gate.id)).toMatchObject({ state: 'awaiting_confirmation', version: 0 });
    expect(h.eventsNamed('reject_denied')).toEqual([expect.objectContaining({ actor: STRANGER })]);
  });

  it('refuses to reject a running gate with GATE_REFUSED', async () => {
    const h = harness({ approvals: 0 });
    const gate = await openGate(h.deps, h.plan, slack(REQUESTER));
    await confirmGate(h.deps, gate.id, slack(OPERATOR), SYSTEM);
    const error = await refusal(rejectGate(h.deps, gate.id, slack(REQUESTER)), 'GATE_REFUSED');
    expect(error.userMessage).toMatch(/already running/);
    expect((await h.stored(gate.id)).state).toBe('running');
  });
});
