import { randomBytes } from 'node:crypto';
import { formatDuration } from '../config/duration.ts';
import type { OutboxInput } from '../domain/alert.ts';
import { DrError } from '../domain/errors.ts';
import { POST_RECOVERY_CHECKLIST, type ChecklistItemId, type Incident, type NoticeAudience } from '../domain/incident.ts';
import type { StateStore } from '../ports/state-store.ts';
import { escapeInline, escapeMrkdwn, mention } from '../render/mrkdwn.ts';

/** What incidents need: the store, where stakeholders are, whom notices mention, the objectives, a clock. */
export interface IncidentDeps {
  store: StateStore;
  stakeholdersChannel: string;
  contacts: { security?: string; management?: string; dba?: string };
  objectives: { rtoMs: number; rpoMs: number };
  now: () => Date;
  /** Wakes the outbox worker. */
  kick?: () => void;
}

/** What `incident resolve` measured. */
export interface IncidentResolution {
  incident: Incident;
  downtimeMs: number;
  /** The data lost by the restores run during the incident (the largest window), if any ran. */
  dataLossMs: number | undefined;
}

// Default notice texts (runbook §3.4, step 4); `{title}` and `{since}` are filled in.
const NOTICES: Record<NoticeAudience, string> = {
  security: 'Security notice — incident "{title}" (since {since}): we are investigating a possible security breach of the document system. Evidence is being preserved; credentials are being rotated. Do not discuss outside this channel.',
  legal: 'Legal notice — incident "{title}" (since {since}): a possible breach of personal or client data is under investigation. Please assess notification duties (e.g. GDPR 72-hour reporting) with the incident lead.',
  tenants: 'Tenant notice — we are aware of a disruption of the document system since {since} and are restoring service. We will update you as soon as we know more. (Incident "{title}".)',
};

// A line of the thread that starts by mentioning a contact, when one is configured.
function mentionFirst(contact: string | undefined): string {
  return contact ? `${mention(contact)} ` : '';
}

function parentMessage(incident: Incident): OutboxInput {
  return { target: 'slack', orderKey: `incident:${incident.id}`, payload: { kind: 'slack_incident', incidentId: incident.id, channel: incident.channel } };
}

function note(incident: Incident, text: string): OutboxInput {
  return { target: 'slack', orderKey: `incident:${incident.id}`, payload: { kind: 'slack_incident_note', incidentId: incident.id, channel: incident.channel, text } };
}

async function openIncidentOrRefuse(deps: IncidentDeps): Promise<Incident> {
  const incident = await deps.store.currentIncident();
  if (!incident) throw new DrError('INCIDENT_STATE', 'No incident is open. Declare one with `/dr incident declare TITLE`. Nothing was posted.', { hint: 'incident declare' });
  return incident;
}

/** Opens an incident: its parent message in the stakeholder channel; refused while another one is open. */
export async function declareIncident(deps: IncidentDeps, request: { title: string; kind: Incident['kind']; actor: string }): Promise<Incident> {
  const now = deps.now();
  const incident: Incident = {
    id: `inc-${now.toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(2).toString('hex')}`,
    title: request.title,
    kind: request.kind,
    state: 'open',
    declaredAt: now.toISOString(),
    declaredBy: request.actor,
    channel: deps.stakeholdersChannel,
  };
  const first = note(incident, `${request.kind === 'security' ? mentionFirst(deps.contacts.security) : ''}Declared by ${mention(request.actor)}. Updates follow here.`);
  if (!(await deps.store.openIncident(incident, [parentMessage(incident), first]))) {
    const open = await deps.store.currentIncident();
    throw new DrError('INCIDENT_STATE', `Incident ${open?.id ?? ''} ("${open?.title ?? ''}") is still open; post to it with \`/dr incident update TEXT\` or resolve it first. Nothing was declared.`, { hint: 'incident update' });
  }
  deps.kick?.();
  return incident;
}

/** Posts an update into the open incident's thread. */
export async function postIncidentUpdate(deps: IncidentDeps, text: string, actor: string): Promise<Incident> {
  const incident = await openIncidentOrRefuse(deps);
  await deps.store.enqueue([note(incident, `📝 ${mention(actor)}: ${escapeMrkdwn(text)}`)]);
  deps.kick?.();
  return incident;
}

/** A line from the bot itself (a run summary, an escalation) into the open incident's thread, if one is open: mrkdwn, external parts already escaped. */
export async function noteToOpenIncident(deps: IncidentDeps, text: string): Promise<void> {
  const incident = await deps.store.currentIncident();
  if (!incident) return;
  await deps.store.enqueue([note(incident, text)]);
  deps.kick?.();
}

/**
 * Closes the open incident (DESIGN.md §8): downtime (declared → resolved) against the RTO, the data lost by
 * its restores against the RPO, and the post-recovery checklist of runbook §7, all in its thread.
 */
export async function resolveIncident(deps: IncidentDeps, actor: string): Promise<IncidentResolution> {
  const incident = await openIncidentOrRefuse(deps);
  const now = deps.now();
  const downtimeMs = now.getTime() - Date.parse(incident.declaredAt);
  const restores = (await deps.store.listRuns({ limit: 200 })).filter((r) => r.procedure.startsWith('restore-') && r.startedAt >= incident.declaredAt && typeof r.summary.dataLossWindowMs === 'number');
  const dataLossMs = restores.length ? Math.max(...restores.map((r) => Number(r.summary.dataLossWindowMs))) : undefined;
  const resolved: Incident = { ...incident, state: 'resolved', resolvedAt: now.toISOString(), resolvedBy: actor };
  const verdict = (ms: number, target: number) => `${formatDuration(ms)} against ${formatDuration(target)} — ${ms <= target ? 'within' : 'OVER'} the objective`;
  const lines = [
    `✅ Resolved by ${mention(actor)}.`,
    `Downtime: ${verdict(downtimeMs, deps.objectives.rtoMs)} (RTO).`,
    dataLossMs === undefined ? 'Data loss: no restore ran during this incident.' : `Data loss: ${verdict(dataLossMs, deps.objectives.rpoMs)} (RPO).`,
    '*Post-recovery checklist*',
    ...POST_RECOVERY_CHECKLIST.map((item) => `☐ ${item}`),
  ];
  await deps.store.updateIncident(resolved, [parentMessage(resolved), note(resolved, lines.join('\n'))]);
  deps.kick?.();
  return { incident: resolved, downtimeMs, dataLossMs };
}

/** Posts a stakeholder notice (security, legal, tenants) into the incident thread, mentioning who must act. */
export async function notifyStakeholders(deps: IncidentDeps, audience: NoticeAudience, actor: string): Promise<Incident> {
  const incident = await openIncidentOrRefuse(deps);
  const who = audience === 'security' ? mentionFirst(deps.contacts.security) : mentionFirst(deps.contacts.management);
  const text = NOTICES[audience].replace('{title}', escapeInline(incident.title)).replace('{since}', incident.declaredAt);
  await deps.store.enqueue([note(incident, `📣 ${who}${text} (sent by ${mention(actor)})`)]);
  deps.kick?.();
  await tickChecklist(deps, ['notify'], actor);
  return incident;
}

function checklistRefresh(incident: Incident): OutboxInput[] {
  const where = incident.checklistMessage;
  return where ? [{ target: 'slack', orderKey: `checklist:${incident.id}`, payload: { kind: 'slack_checklist', incidentId: incident.id, channel: where.channel } }] : [];
}

/** Ticks checklist items the bot itself did (a successful restore, an isolation) on the open incident, if any. */
export async function tickChecklist(deps: IncidentDeps, items: readonly ChecklistItemId[], by: string): Promise<void> {
  const open = await deps.store.currentIncident();
  if (!open || items.length === 0) return;
  const at = deps.now().toISOString();
  const changed = await deps.store.changeIncident(open.id, (incident) => {
    const fresh = items.filter((item) => !incident.checklist?.[item]);
    if (fresh.length === 0) return undefined;
    const next: Incident = { ...incident, checklist: { ...incident.checklist, ...Object.fromEntries(fresh.map((item) => [item, { by, at }])) } };
    return { incident: next, outbox: checklistRefresh(next) };
  });
  if (changed) deps.kick?.();
}

/** A person ticks or unticks one item of the open incident's checklist. */
export async function setChecklistItem(deps: IncidentDeps, incidentId: string, item: ChecklistItemId, done: boolean, by: string): Promise<Incident> {
  const at = deps.now().toISOString();
  const changed = await deps.store.changeIncident(incidentId, (incident) => {
    const checklist = { ...incident.checklist };
    if (done) checklist[item] = checklist[item] ?? { by, at };
    else delete checklist[item];
    const next: Incident = { ...incident, checklist };
    return { incident: next, outbox: [] };
  });
  if (!changed) throw new DrError('INCIDENT_STATE', 'That incident no longer exists.');
  return changed;
}

/** The open incident whose checklist `/dr checklist` shows; refused without one. */
export async function checklistIncident(deps: IncidentDeps): Promise<Incident> {
  return openIncidentOrRefuse(deps);
}

/** Remembers where the checklist was posted, so the bot's own ticks edit that message. */
export async function rememberChecklistMessage(deps: IncidentDeps, incidentId: string, where: { channel: string; ts: string }): Promise<void> {
  await deps.store.changeIncident(incidentId, (incident) => ({ incident: { ...incident, checklistMessage: where }, outbox: [] }));
}
