import type { Gate } from '../domain/gate.ts';
import type { GatedProcedure, Plan } from '../domain/plan.ts';
import type { Run } from '../domain/run.ts';
import { executeRun, type EngineDeps, type RunObserver, type RunSpec } from '../procedures/engine.ts';
import { finishGate, type GateDeps } from './gates.ts';
import { escapeInline, escapeMrkdwn } from '../render/mrkdwn.ts';
import { noteToOpenIncident, tickChecklist, type IncidentDeps } from '../procedures/incidents.ts';
import { TICKED_BY_PROCEDURE } from '../domain/incident.ts';
import { RUN_MARK, runFacts } from '../render/plan.ts';

/** Who a run is for and where its checklist lives. */
export interface RunOrigin {
  actor: string;
  gateId?: string;
  channel?: string;
  messageTs?: string;
}

/** The destructive procedures: how each is planned, and the run a confirmed plan becomes. */
export interface GatedProcedures {
  plan(procedure: GatedProcedure, request: Record<string, string>): Promise<Plan>;
  runSpec(plan: Plan, origin: RunOrigin): RunSpec<unknown>;
}

/** Runs a gate this caller won (state `running`), then closes it with the run's id and audits the outcome. */
export async function runGate(
  deps: { engine: EngineDeps; gated: GatedProcedures; gates: GateDeps; incidents?: IncidentDeps },
  gate: Gate,
  origin: Omit<RunOrigin, 'gateId'>,
  observe?: RunObserver,
): Promise<Run> {
  const spec = deps.gated.runSpec(gate.plan, { ...origin, gateId: gate.id });
  const run = await executeRun(deps.engine, spec, observe);
  await finishGate(deps.gates, gate, run.id);
  await deps.gates.audit({ source: gate.source, actor: origin.actor, channel: gate.channel }, `run_${run.status}`, gate, { runId: run.id, ...run.summary });
  // Every run summary during an incident also goes to its stakeholder thread (DESIGN.md §8).
  if (deps.incidents) {
    const facts = runFacts(run).map(([label, value]) => `• ${label}: ${escapeMrkdwn(value)}`);
    await noteToOpenIncident(deps.incidents, [`${RUN_MARK[run.status]} ${escapeInline(gate.plan.title)}: ${run.status} (run ${run.id})`, ...facts].join('\n')).catch(() => {});
    // The checklist items this run did itself are ticked on the incident's checklist.
    if (run.status === 'succeeded') await tickChecklist(deps.incidents, TICKED_BY_PROCEDURE[run.procedure] ?? [], 'dr-bot').catch(() => {});
  }
  return run;
}
