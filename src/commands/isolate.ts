import { openGate } from '../gates/gates.ts';
import { defineCommand, noArguments } from './types.ts';

/** `/dr isolate` (runbook §3.4): evidence first, then the isolation commands, behind the (fast) isolate gate. */
export const isolateCommand = defineCommand({
  name: 'isolate',
  usage: 'isolate',
  summary: 'preserve evidence, then run the configured isolation commands (gated)',
  risk: 'destructive',
  parse: noArguments('isolate'),
  run: async (deps, _args, invocation) => {
    const plan = await deps.gated.plan('isolate', {});
    return { kind: 'plan', gate: await openGate(deps.gates, plan, invocation) };
  },
});
