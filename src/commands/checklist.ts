import { checklistIncident } from '../procedures/incidents.ts';
import { defineCommand, noArguments } from './types.ts';

/** `/dr checklist`: the runbook §7 checklist of the open incident, as checkboxes the bot ticks for its own steps. */
export const checklistCommand = defineCommand({
  name: 'checklist',
  usage: 'checklist',
  summary: 'the recovery checklist of the current incident',
  risk: 'operate',
  parse: noArguments('checklist'),
  run: async (deps) => ({ kind: 'checklist', incident: await checklistIncident(deps.incidents) }),
});
