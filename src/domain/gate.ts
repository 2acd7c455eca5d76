import type { GatedProcedure, GateName, Plan } from './plan.ts';
import type { AuditSource } from './audit.ts';

/**
 * Where a gate is: it moves forward only, one compare-and-set at a time (DESIGN.md §5).
 * awaiting_confirmation → (typed name) → awaiting_approval → (approvals) → running → finished;
 * any open state may end as rejected, expired, cancelled or void (the plan changed underneath it).
 */
export type GateState = 'awaiting_confirmation' | 'awaiting_approval' | 'running' | 'finished' | 'rejected' | 'expired' | 'cancelled' | 'void';

/** States from which nothing more can happen. */
export const CLOSED_GATE_STATES: readonly GateState[] = ['running', 'finished', 'rejected', 'expired', 'cancelled', 'void'];

/** A destructive plan waiting for (or past) its confirmation and approvals. */
export interface Gate {
  id: string;
  procedure: GatedProcedure;
  gate: GateName;
  plan: Plan;
  state: GateState;
  /** Bumped by every transition: the compare-and-set token. */
  version: number;
  source: AuditSource;
  requester: string;
  channel: string;
  /** The Slack message showing the plan, once posted. */
  messageTs?: string;
  approvalsNeeded: number;
  approvals: string[];
  confirmedBy?: string;
  createdAt: string;
  expiresAt: string;
  runId?: string;
  /** Why it closed, for the people who look at it later. */
  closedReason?: string;
}
