import { randomBytes } from 'node:crypto';
import type { Config } from '../config/load.ts';
import type { AuditSource } from '../domain/audit.ts';
import { DrError } from '../domain/errors.ts';
import type { Gate } from '../domain/gate.ts';
import type { Plan } from '../domain/plan.ts';
import type { Run } from '../domain/run.ts';
import type { StateStore } from '../ports/state-store.ts';
import { destructiveRoles, roleKeys, type RoleName } from './roles.ts';

// Procedures that change the live system: never two at once.
const DESTRUCTIVE_PROCEDURES = new Set(['restore-db', 'restore-storage', 'restore-all', 'restore-undo', 'isolate', 'rotate-secrets']);

/** Who acts on a gate, and from where. */
export interface GateActor {
  source: AuditSource;
  actor: string;
  channel: string;
}

/** What the gate state machine needs. */
export interface GateDeps {
  store: StateStore;
  config: Pick<Config, 'gates' | 'system' | 'slack'>;
  now: () => Date;
  /** Writes one audit row for a transition, denial or expiry; `required`: throws when the row cannot be written. */
  audit: (who: GateActor, event: string, gate: Gate, detail?: Record<string, unknown>, options?: { required?: boolean }) => Promise<void>;
  /** Makes the plan afresh from the same request, to tell whether the one shown is still what would run. */
  replan: (gate: Gate) => Promise<Plan>;
  /** Whether a run recorded as `running` is really still going (its process alive); a crashed one blocks nothing. */
  runAlive?: (run: Run) => boolean;
  /** Whether a Slack user holds a role (user ids, or members of the configured user groups). */
  holdsRole: (role: RoleName, user: string) => Promise<boolean>;
}

/** Where a confirmation or approval left the gate. */
export type GateProgress =
  | { kind: 'awaiting_approval'; gate: Gate }
  /** This caller won the right to run the plan: the gate is `running` now and nobody else will run it. */
  | { kind: 'execute'; gate: Gate }
  /** The plan changed since it was shown (a newer backup…): the gate is void; here is the new plan. */
  | { kind: 'void'; gate: Gate; newPlan: Plan };

/** Opens a gate for a plan: nothing runs until someone types the system name (and approvers approve). */
export async function openGate(deps: GateDeps, plan: Plan, who: GateActor): Promise<Gate> {
  const settings = deps.config.gates[plan.gate];
  const now = deps.now();
  const gate: Gate = {
    id: `gate-${randomBytes(6).toString('hex')}`,
    procedure: plan.procedure,
    gate: plan.gate,
    plan,
    state: 'awaiting_confirmation',
    version: 0,
    source: who.source,
    requester: who.actor,
    channel: who.channel,
    approvalsNeeded: settings.approvals,
    approvals: [],
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + settings.expires).toISOString(),
  };
  await deps.store.createGate(gate);
  await deps.audit(who, 'plan_proposed', gate, { planHash: plan.hash, approvalsNeeded: gate.approvalsNeeded, expiresAt: gate.expiresAt });
  return gate;
}

/** Records where the plan was posted, so later transitions can update that message. */
export async function attachGateMessage(deps: Pick<GateDeps, 'store'>, gate: Gate, messageTs: string): Promise<Gate> {
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const current = (await deps.store.getGate(gate.id)) ?? gate;
    if (await deps.store.updateGate(gate.id, current.version, { messageTs })) return { ...current, messageTs, version: current.version + 1 };
  }
  return gate;
}

/** The gate, if it can still be confirmed by this person (used before opening the confirmation modal). */
export async function confirmableGate(deps: GateDeps, gateId: string, who: GateActor): Promise<Gate> {
  const gate = await openGateOrRefuse(deps, gateId, who, 'awaiting_confirmation');
  const roles = destructiveRoles(gate.procedure);
  if (who.source === 'slack' && !(await holdsOneOf(deps, roles, who.actor))) {
    await deps.audit(who, 'confirm_denied', gate, { reason: roles.length > 1 ? 'neither an operator nor a security responder' : 'not an operator' });
    throw new DrError('NOT_AUTHORIZED', `Only ${roles.length > 1 ? 'operators or security responders' : 'operators'} (${roleKeys(roles)}) can confirm this plan. Nothing was run.`);
  }
  return gate;
}

async function holdsOneOf(deps: GateDeps, roles: readonly RoleName[], user: string): Promise<boolean> {
  for (const role of roles) if (await deps.holdsRole(role, user)) return true;
  return false;
}

/**
 * The typed confirmation: a wrong system name changes nothing; the right one moves the gate on to its
 * approvals, or straight to execution when it needs none (or when a terminal user breaks the glass).
 */
export async function confirmGate(deps: GateDeps, gateId: string, who: GateActor, typedName: string, options: { breakGlass?: boolean } = {}): Promise<GateProgress> {
  const gate = await confirmableGate(deps, gateId, who);
  if (typedName.trim() !== deps.config.system.name) {
    await deps.audit(who, 'confirm_wrong_name', gate);
    throw new DrError('GATE_REFUSED', `That is not the system name. Type ${deps.config.system.name} exactly to confirm. Nothing was run.`);
  }
  if (gate.approvalsNeeded === 0 || options.breakGlass) {
    const brokeGlass = options.breakGlass && gate.approvalsNeeded > 0;
    return claimExecution(deps, gate, who, { confirmedBy: who.actor }, brokeGlass ? [['break_glass', { approvalsSkipped: gate.approvalsNeeded }]] : []);
  }
  if (!(await deps.store.updateGate(gate.id, gate.version, { state: 'awaiting_approval', confirmedBy: who.actor }))) throw raced();
  const moved = (await deps.store.getGate(gate.id))!;
  await deps.audit(who, 'plan_confirmed', moved, { planHash: moved.plan.hash });
  return { kind: 'awaiting_approval', gate: moved };
}

/** An approver's approval, bound to the plan hash; the last one needed starts the run. */
export async function approveGate(deps: GateDeps, gateId: string, who: GateActor, planHash: string): Promise<GateProgress> {
  const gate = await openGateOrRefuse(deps, gateId, who, 'awaiting_approval');
  const refuse = async (reason: string, message: string) => {
    await deps.audit(who, 'approval_denied', gate, { reason });
    return new DrError('NOT_AUTHORIZED', message);
  };
  if (!(await deps.holdsRole('approvers', who.actor))) throw await refuse('not an approver', 'Only approvers (slack.roles.approvers) can approve. Nothing was run.');
  if (who.actor === gate.requester || who.actor === gate.confirmedBy) throw await refuse('requester cannot approve', 'You asked for (or confirmed) this plan; another approver has to approve it. Nothing was run.');
  if (gate.approvals.includes(who.actor)) throw await refuse('already approved', 'You have already approved this plan; it needs another approver.');
  if (planHash !== gate.plan.hash) throw await refuse('approval for another plan', 'This approval is for a different version of the plan. Nothing was run.');
  const approvals = [...gate.approvals, who.actor];
  if (approvals.length < gate.approvalsNeeded) {
    if (!(await deps.store.updateGate(gate.id, gate.version, { approvals }))) throw raced();
    const moved = (await deps.store.getGate(gate.id))!;
    await deps.audit(who, 'plan_approved', moved, { planHash, approvals: approvals.length, needed: gate.approvalsNeeded });
    return { kind: 'awaiting_approval', gate: moved };
  }
  return claimExecution(deps, gate, who, { approvals }, [['plan_approved', { planHash, approvals: approvals.length, needed: gate.approvalsNeeded }]]);
}

/** An approver (or the requester) turns the plan down; nothing runs. */
export async function rejectGate(deps: GateDeps, gateId: string, who: GateActor): Promise<Gate> {
  const gate = await deps.store.getGate(gateId);
  if (!gate || !['awaiting_confirmation', 'awaiting_approval'].includes(gate.state)) throw closed(gate);
  const allowed = who.actor === gate.requester || (await deps.holdsRole('approvers', who.actor));
  if (!allowed) {
    await deps.audit(who, 'reject_denied', gate, { reason: 'neither requester nor approver' });
    throw new DrError('NOT_AUTHORIZED', 'Only the requester or an approver can reject this plan.');
  }
  const state = who.actor === gate.requester ? 'cancelled' : 'rejected';
  if (!(await deps.store.updateGate(gate.id, gate.version, { state, closedReason: `${state} by ${who.actor}` }))) throw raced();
  const moved = (await deps.store.getGate(gate.id))!;
  await deps.audit(who, state === 'cancelled' ? 'plan_cancelled' : 'plan_rejected', moved);
  return moved;
}

/** Closes a gate whose run ended, recording the run. */
export async function finishGate(deps: Pick<GateDeps, 'store'>, gate: Gate, runId: string): Promise<void> {
  const current = await deps.store.getGate(gate.id);
  if (current) await deps.store.updateGate(gate.id, current.version, { state: 'finished', runId });
}

/** Marks every open gate past its expiry as expired (audited); returns them so their messages can say so. */
export async function expireGates(deps: GateDeps, gates: readonly Gate[]): Promise<Gate[]> {
  const expired: Gate[] = [];
  for (const gate of gates) {
    if (!['awaiting_confirmation', 'awaiting_approval'].includes(gate.state) || Date.parse(gate.expiresAt) > deps.now().getTime()) continue;
    if (await deps.store.updateGate(gate.id, gate.version, { state: 'expired', closedReason: 'expired' })) {
      const moved = (await deps.store.getGate(gate.id))!;
      await deps.audit({ source: gate.source, actor: 'dr-bot', channel: gate.channel }, 'plan_expired', moved);
      expired.push(moved);
    }
  }
  return expired;
}

// The single transition into `running`: whoever's compare-and-set wins runs the plan, everyone else is told.
// What led to it (the last approval, a broken glass) is audited only once it has really happened.
async function claimExecution(deps: GateDeps, gate: Gate, who: GateActor, change: Partial<Gate>, leadingTo: Array<[string, Record<string, unknown>]>): Promise<GateProgress> {
  const fresh = await deps.replan(gate);
  // Re-planning takes a moment: a gate that expired meanwhile still runs nothing.
  if (Date.parse(gate.expiresAt) <= deps.now().getTime()) {
    if (await deps.store.updateGate(gate.id, gate.version, { state: 'expired', closedReason: 'expired' })) await deps.audit(who, 'plan_expired', { ...gate, state: 'expired' });
    throw new DrError('GATE_REFUSED', `This plan expired at ${gate.expiresAt}. Nothing was run; ask for a new plan.`);
  }
  if (fresh.hash !== gate.plan.hash) {
    if (await deps.store.updateGate(gate.id, gate.version, { state: 'void', closedReason: 'the plan changed before it ran' })) {
      const moved = (await deps.store.getGate(gate.id))!;
      await deps.audit(who, 'plan_void', moved, { oldHash: gate.plan.hash, newHash: fresh.hash });
      return { kind: 'void', gate: moved, newPlan: fresh };
    }
    throw raced();
  }
  // One destructive run at a time: two restores (or a restore and an undo) interleaving their stop, swap and
  // start would leave nobody knowing which database is live.
  const busy = (await deps.store.listRuns({ status: 'running', limit: 50 })).find((r) => DESTRUCTIVE_PROCEDURES.has(r.procedure) && (deps.runAlive?.(r) ?? true));
  if (busy) {
    await deps.audit(who, 'run_refused_busy', gate, { busyRun: busy.id });
    throw new DrError('GATE_REFUSED', `${busy.procedure} (${busy.id}) is still running; this plan waits for it to end. Nothing more was run — confirm again when it has finished.`);
  }
  if (!(await deps.store.updateGate(gate.id, gate.version, { ...change, state: 'running' }))) throw raced();
  const moved = (await deps.store.getGate(gate.id))!;
  for (const [event, detail] of leadingTo) await deps.audit(who, event, moved, detail);
  try {
    await deps.audit(who, 'run_started', moved, { planHash: gate.plan.hash }, { required: true });
  } catch (error) {
    // A destructive run nobody could trace afterwards does not start: the gate closes, nothing ran.
    await deps.store.updateGate(moved.id, moved.version, { state: 'void', closedReason: 'the audit log could not be written' }).catch(() => false);
    throw error;
  }
  return { kind: 'execute', gate: moved };
}

async function openGateOrRefuse(deps: GateDeps, gateId: string, who: GateActor, expected: Gate['state']): Promise<Gate> {
  const gate = await deps.store.getGate(gateId);
  if (!gate) throw new DrError('GATE_REFUSED', 'There is no such plan. Nothing was run.');
  if (gate.state === expected && Date.parse(gate.expiresAt) <= deps.now().getTime()) {
    if (await deps.store.updateGate(gate.id, gate.version, { state: 'expired', closedReason: 'expired' })) {
      await deps.audit(who, 'plan_expired', { ...gate, state: 'expired' });
    }
    throw new DrError('GATE_REFUSED', `This plan expired at ${gate.expiresAt}. Nothing was run; ask for a new plan.`);
  }
  if (gate.state !== expected) {
    await deps.audit(who, 'gate_transition_refused', gate, { wanted: expected });
    throw closed(gate);
  }
  return gate;
}

function closed(gate: Gate | undefined): DrError {
  if (!gate) return new DrError('GATE_REFUSED', 'There is no such plan. Nothing was run.');
  const why: Record<Gate['state'], string> = {
    awaiting_confirmation: 'is still waiting for its typed confirmation',
    awaiting_approval: 'is waiting for approval',
    running: 'is already running',
    finished: 'has already run',
    rejected: 'was rejected',
    expired: 'has expired',
    cancelled: 'was cancelled',
    void: 'was replaced by a newer plan',
  };
  return new DrError('GATE_REFUSED', `This plan ${why[gate.state]}. Nothing more was run.`);
}

function raced(): DrError {
  return new DrError('GATE_REFUSED', 'Someone else acted on this plan at the same moment; it runs at most once. Nothing more was run.');
}
