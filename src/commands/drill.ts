import { defineCommand, noArguments } from './types.ts';

/** `/dr drill` (runbook §4.2): a complete recovery into scratch targets, nothing live touched; its duration is the measured RTO. */
export const drillCommand = defineCommand({
  name: 'drill',
  usage: 'drill',
  summary: 'full recovery into scratch targets, measuring RTO',
  risk: 'operate',
  reportsProgress: true,
  parse: noArguments('drill'),
  run: async (deps, _args, invocation) => ({ kind: 'run', run: await deps.drill(invocation.progress, invocation.actor) }),
});
