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
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  /** Tells every channel it can reach that the glass was broken (best effort). */
  announce: (text: string) => Promise<void>;
}

/**
 * The terminal side of a gate (DESIGN.md §5): the typed name (asked on a terminal, or `--confirm NAME`),
 * then approvals — which only `--break-glass` skips, loudly — then the run, its steps printed as they go.
 * Resolves to the exit code.
 */
export async function confirmAndRunOnTerminal(deps: DispatchDeps, gate: Gate, who: GateActor, io: TerminalConfirmation): Promise<number> {
  let name = io.confirmName;
  if (name === undefined) {
    if (!io.input.isTTY) {
      await rejectGate(deps.gates, gate.id, who).catch(() => {});
      io.out.write(renderError(new DrError('GATE_REFUSED', `Not a terminal, so nothing can be typed: pass --confirm ${deps.config.system.name} to confirm. The plan was cancelled; nothing was run.`), false));
      return 2;
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
    io.out.write(renderError(toDrError(error), false));
    return 2;
  }
  if (progress.kind === 'awaiting_approval') {
    io.out.write(`Confirmed. This plan needs ${gate.approvalsNeeded} approval(s) from slack.roles.approvers, which a terminal cannot give. Nothing was run. When Slack is down and waiting is worse, run it again with --break-glass (audited and announced).\n`);
    return 3;
  }
  if (progress.kind === 'void') {
    io.out.write(`The plan changed before it ran (now: ${progress.newPlan.title}, hash ${progress.newPlan.hash.slice(0, 12)}); nothing was run. Run the command again to see the new plan.\n`);
    return 2;
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
  io.out.write(renderRun(run));
  return run.status === 'succeeded' ? 0 : 1;
}
