import { defineCommand, noArguments } from './types.ts';

/** `/dr alerts`: what is firing (or acknowledged) right now, most recent first. */
export const alertsCommand = defineCommand({
  name: 'alerts',
  usage: 'alerts',
  summary: 'alerts firing now',
  risk: 'read',
  parse: noArguments('alerts'),
  run: async (deps) => ({ kind: 'alerts', alerts: await deps.store.listAlerts({ states: ['firing', 'acknowledged'], limit: 200 }), now: new Date().toISOString() }),
});
