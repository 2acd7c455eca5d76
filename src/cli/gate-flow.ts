import { createInterface } from 'node:readline/promises';
import type { DispatchDeps } from '../commands/dispatch.ts';
import { DrError, toDrError } from '../domain/errors.ts';
import type { Gate } from '../domain/gate.ts';
import { stepMark } from '../render/plan.ts';
import { confirmGate, rejectGate, type GateActor } from '../gates/gates.ts';
import { runGate } from '../gates/gated-procedures.ts';
import { renderError, renderRun } from './render.ts';

/** How the terminal confirms: a name given up front, the terminal to ask on, break-glass, and where to announce it. */
export interface TerminalConfirmation {
  confirmName: string | undefined;
  breakGlass: boolean;
  /** With --json the caller prints one document (plan + what became of it); nothing else goes to `out`. */
  json: boolean;
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  /** Tells every channel it can reach that the glass was broken (best effort). */
  announce: (text: string) => Promise<void>;
}

/**
 * The terminal side of a gate (DESIGN.md §5): the typed name (asked on a terminal, or `--confirm NAME`),
 * then approvals — which only `--break-glass` skips, loudly — then the run, its steps printed as they go.
 * Results go to `out` (the run's checklist), refusals and step lines to `err`. Resolves to the exit code and
 * a JSON-able account of what happened, for `--json`.
 */
export async function confirmAndRunOnTerminal(deps: DispatchDeps, gate: Gate, who: GateActor, io: TerminalConfirmation): Promise<GateEnding> {
  const refuse = (error: DrError, code = 2): GateEnding => {
    io.err.write(renderError(error, false));
    return { code, document: { outcome: 'refused', error: { code: error.code, message: error.userMessage } } };
  };
  let name = io.confirmName;
  if (name === undefined) {
    if (!io.input.isTTY) {
      await rejectGate(deps.gates, gate.id, who).catch(() => {});
      return refuse(new DrError('GATE_REFUSED', `Not a terminal, so nothing can be typed: pass --confirm ${deps.config.system.name} to confirm. The plan was cancelled; nothing was run.`));
    }
    const prompt = createInterface({ input: io.input, output: io.err, terminal: true });
    name = await prompt.question(`Type ${deps.config.system.name} to confirm: `);
    prompt.close();
  }
  // Announced only for a confirmation that will be accepted: a typo must not cry break-glass in every channel.
  if (io.breakGlass && gate.approvalsNeeded > 0 && name.trim() === deps.config.system.name) {
    await io.announce(`:rotating_light: BREAK-GLASS: ${who.actor} is running "${gate.plan.title}" from a terminal without the ${gate.approvalsNeeded} approval(s) the gate requires (plan ${gate.plan.hash.slice(0, 12)}).`);
  }
  let progress;
  try {
    progress = await confirmGate(deps.gates, gate.id, who, name, { breakGlass: io.breakGlass });
  } catch (error) {
    return refuse(toDrError(error));
  }
  if (progress.kind === 'awaiting_approval') {
    const text = `Confirmed. This plan needs ${gate.approvalsNeeded} approval(s) from slack.roles.approvers, which a terminal cannot give. Nothing was run. When Slack is down and waiting is worse, run it again with --break-glass (audited and announced).`;
    if (!io.json) io.out.write(`${text}\n`);
    return { code: 3, document: { outcome: 'awaiting_approval', approvalsNeeded: gate.approvalsNeeded, message: text } };
  }
  if (progress.kind === 'void') {
    return refuse(new DrError('GATE_REFUSED', `The plan changed before it ran (now: ${progress.newPlan.title}, hash ${progress.newPlan.hash.slice(0, 12)}); nothing was run. Run the command again to see the new plan.`));
  }
  const shown = new Set<string>();
  const run = await runGate({ engine: deps.engine, gated: deps.gated, gates: deps.gates, incidents: deps.incidents }, progress.gate, { actor: who.actor, channel: who.channel }, (state) => {
    for (const step of state.steps) {
      const key = `${step.name}:${step.status}`;
      if (step.status === 'pending' || shown.has(key)) continue;
      shown.add(key);
      io.err.write(`${stepMark(step)} ${step.name}${step.detail ? ` — ${step.detail}` : ''}\n`);
    }
  });
  if (!io.json) io.out.write(renderRun(run));
  return { code: run.status === 'succeeded' ? 0 : 1, document: { outcome: 'ran', run } };
}

/** What became of a plan at the terminal: the exit code, and the same as a JSON-able document. */
export interface GateEnding {
  code: number;
  document: { outcome: 'refused' | 'awaiting_approval' | 'ran'; [key: string]: unknown };
}
