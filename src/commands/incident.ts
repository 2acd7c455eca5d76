import { DrError } from '../domain/errors.ts';
import type { NoticeAudience } from '../domain/incident.ts';
import { declareIncident, notifyStakeholders, postIncidentUpdate, resolveIncident } from '../procedures/incidents.ts';
import { defineCommand, noArguments } from './types.ts';

// Long enough for a sentence, short enough for a Slack header line.
const MAX_TITLE = 200;
const MAX_UPDATE = 2_000;

function text(name: string, args: readonly string[], max: number, what: string): string {
  const joined = args.join(' ').trim();
  if (!joined) throw new DrError('COMMAND_MALFORMED', `\`${name}\` needs ${what}. Nothing was posted.`, { hint: name });
  if (joined.length > max) throw new DrError('COMMAND_MALFORMED', `\`${name}\` takes at most ${max} characters (got ${joined.length}). Nothing was posted.`, { hint: name });
  return joined;
}

/** `/dr incident declare TITLE`: opens the stakeholder thread (DESIGN.md §8). */
export const incidentDeclareCommand = defineCommand({
  name: 'incident declare',
  usage: 'incident declare TITLE',
  summary: 'open an incident thread for stakeholders',
  risk: 'operate',
  parse: (args) => text('incident declare', args, MAX_TITLE, 'a title'),
  run: async (deps, title, invocation) => ({ kind: 'incident', action: 'declared', incident: await declareIncident(deps.incidents, { title, kind: 'operational', actor: invocation.actor }) }),
});

/** `/dr incident update TEXT`: a line in the open incident's thread. */
export const incidentUpdateCommand = defineCommand({
  name: 'incident update',
  usage: 'incident update TEXT',
  summary: 'post an update to the incident thread',
  risk: 'operate',
  parse: (args) => text('incident update', args, MAX_UPDATE, 'the text of the update'),
  run: async (deps, update, invocation) => ({ kind: 'incident', action: 'updated', incident: await postIncidentUpdate(deps.incidents, update, invocation.actor) }),
});

/** `/dr incident resolve`: downtime vs RTO, data loss vs RPO, and the post-recovery checklist. */
export const incidentResolveCommand = defineCommand({
  name: 'incident resolve',
  usage: 'incident resolve',
  summary: 'close the incident: downtime vs RTO, data loss vs RPO',
  risk: 'operate',
  parse: noArguments('incident resolve'),
  run: async (deps, _args, invocation) => {
    const resolution = await resolveIncident(deps.incidents, invocation.actor);
    return { kind: 'incident', action: 'resolved', incident: resolution.incident, resolution: { downtimeMs: resolution.downtimeMs, ...(resolution.dataLossMs !== undefined ? { dataLossMs: resolution.dataLossMs } : {}) } };
  },
});

const AUDIENCES: readonly NoticeAudience[] = ['security', 'legal', 'tenants'];

/** `/dr incident notify security|legal|tenants`: the stakeholder notice, mentioning the configured contacts. */
export const incidentNotifyCommand = defineCommand({
  name: 'incident notify',
  usage: 'incident notify security|legal|tenants',
  summary: 'notify a stakeholder group',
  risk: 'operate',
  parse: (args): NoticeAudience => {
    const audience = (args[0] ?? '').toLowerCase();
    if (args.length !== 1 || !(AUDIENCES as readonly string[]).includes(audience)) {
      throw new DrError('COMMAND_MALFORMED', '`incident notify` takes one of security, legal, tenants. Nothing was posted.', { hint: 'incident notify security' });
    }
    return audience as NoticeAudience;
  },
  run: async (deps, audience, invocation) => ({ kind: 'incident', action: `notified ${audience}`, incident: await notifyStakeholders(deps.incidents, audience, invocation.actor) }),
});
