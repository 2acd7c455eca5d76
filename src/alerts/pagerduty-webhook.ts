import { z } from 'zod';
import { pagerDedupKey, type AlertRecord, type OutboxInput } from '../domain/alert.ts';
import { DrError } from '../domain/errors.ts';
import { escapeMrkdwn } from '../render/mrkdwn.ts';
import type { AlertIntakeDeps } from './ingest-signals.ts';
import { acknowledge, alertChannels, type AlertChange } from './router.ts';

/** A PagerDuty webhook (v3) event about an incident, reduced to what the bot acts on. */
export interface PagerDutyIncidentEvent {
  /** `event.id`: PagerDuty's id of this event, the same on every redelivery. */
  id?: string;
  /** `event.event_type`, e.g. `incident.acknowledged`. */
  type: string;
  occurredAt?: string;
  /** Who did it (`event.agent.summary`), e.g. a user's name. */
  agent?: string;
  /** `event.data.incident_key`: the dedup_key the bot triggered with. */
  incidentKey?: string;
  /** `event.data.id`: PagerDuty's incident id. */
  incidentId?: string;
}

/** What an event did: matched none of our alerts, was of a kind the bot ignores, or changed an alert. */
export type PagerDutyEventOutcome = 'unknown_incident' | 'ignored' | 'unchanged' | 'acknowledged' | 'noted';

// PagerDuty adds fields over time: loose objects, only what is used is checked.
const referenceSchema = z.looseObject({ summary: z.string().max(1_000).optional() }).nullish();
const webhookSchema = z.looseObject({
  event: z.looseObject({
    id: z.string().min(1).max(200).optional(),
    event_type: z.string().min(1).max(200),
    occurred_at: z.iso.datetime({ offset: true }).optional(),
    agent: referenceSchema,
    data: z
      .looseObject({
        id: z.string().max(200).optional(),
        incident_key: z.string().max(1_000).nullish(),
      })
      .nullish(),
  }),
});

/** Event types that change something; every other one is accepted and ignored. */
const HANDLED = new Set(['incident.acknowledged', 'incident.resolved', 'incident.triggered']);

// A name from PagerDuty is shown in Slack: kept to one short line.
const AGENT_CHARS = 80;

/** Parses a v3 webhook body (`{event: {event_type, data: {id, incident_key}, agent}}`); throws DrError ALERT_INVALID. */
export function parsePagerDutyWebhook(body: unknown): PagerDutyIncidentEvent {
  const parsed = webhookSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new DrError('ALERT_INVALID', `${issue.path.join('.') || 'body'}: ${issue.message} (expected a PagerDuty v3 webhook: {"event": {"event_type": …, "data": {…}}})`);
  }
  const { event } = parsed.data;
  const agent = event.agent?.summary?.replace(/\s+/g, ' ').trim().slice(0, AGENT_CHARS);
  return {
    type: event.event_type,
    ...(event.id ? { id: event.id } : {}),
    ...(event.occurred_at ? { occurredAt: new Date(event.occurred_at).toISOString() } : {}),
    ...(agent ? { agent } : {}),
    ...(event.data?.incident_key ? { incidentKey: event.data.incident_key } : {}),
    ...(event.data?.id ? { incidentId: event.data.id } : {}),
  };
}

/**
 * Applies a verified PagerDuty event to the alerts it is about (DESIGN.md §4): found by `incident_key` (the
 * dedup_key it was triggered with: the alert's fingerprint, or for an Alertmanager group paged as one incident
 * the group's key, which stands for every open alert of the group), or by the PagerDuty incident id remembered
 * from an earlier event. `incident.acknowledged` acknowledges a firing alert as "<agent> in PagerDuty" — the same
 * transition as Slack's button, so its messages are edited through the outbox and reminders and escalation stop —
 * without echoing an acknowledge back to PagerDuty. `incident.resolved` adds a note to the alert's thread; the
 * alert itself stays open until its source resolves it. An event from before the alert's current firing began is
 * about an earlier incident and changes nothing.
 */
export async function takeInPagerDutyEvent(deps: AlertIntakeDeps, event: PagerDutyIncidentEvent): Promise<PagerDutyEventOutcome> {
  if (!HANDLED.has(event.type)) return 'ignored';
  const fingerprints = await findAlerts(deps, event);
  if (fingerprints.length === 0) return 'unknown_incident';
  let outcome = 'unchanged' as PagerDutyEventOutcome;
  const now = deps.now().toISOString();
  await deps.store.changeAlerts(fingerprints, (existing) => {
    const changes: AlertChange[] = [];
    for (const fingerprint of fingerprints) {
      const found = existing.get(fingerprint);
      if (!found || found.state === 'resolved') continue;
      if (event.occurredAt && event.occurredAt < found.firingSince) continue;
      const alert: AlertRecord = event.incidentId && found.pagerdutyIncidentId !== event.incidentId ? { ...found, pagerdutyIncidentId: event.incidentId } : found;
      const agent = event.agent ?? 'someone';
      if (event.type === 'incident.acknowledged') {
        const change = acknowledge(alert, `${agent} in PagerDuty`, deps.routing, now, { fromPagerDuty: true });
        if (change) {
          outcome = 'acknowledged';
          changes.push(change);
          continue;
        }
      } else if (event.type === 'incident.resolved') {
        outcome = 'noted';
        const text = `☑️ Resolved in PagerDuty by ${escapeMrkdwn(agent)}. This alert stays open here until its source (${escapeMrkdwn(alert.source)}) reports it resolved.`;
        const outbox: OutboxInput[] = alertChannels(alert, deps.routing).map((channel) => ({ target: 'slack', orderKey: `slack:${channel}:${alert.fingerprint}`, payload: { kind: 'slack_alert_note', fingerprint: alert.fingerprint, channel, text } }));
        changes.push({ record: alert, outbox });
        continue;
      }
      // Nothing to show, but the incident id is worth keeping for later events that lack the key.
      if (alert !== found) changes.push({ record: alert, outbox: [] });
    }
    return changes;
  });
  if (outcome === 'acknowledged' || outcome === 'noted') deps.kick?.();
  return outcome;
}

// How many open alerts are searched for a remembered PagerDuty incident id (only when an event lacks its key).
const OPEN_ALERT_SCAN = 10_000;

async function findAlerts(deps: AlertIntakeDeps, event: PagerDutyIncidentEvent): Promise<string[]> {
  if (event.incidentKey) {
    const [byKey] = await deps.store.getAlerts([event.incidentKey]);
    if (byKey) return [byKey.fingerprint];
  }
  if (!event.incidentKey && !event.incidentId) return [];
  const open = await deps.store.listAlerts({ states: ['firing', 'acknowledged'], limit: OPEN_ALERT_SCAN });
  // An Alertmanager group pages as one incident whose key is the group's: every open alert of the group.
  const grouped = event.incidentKey ? open.filter((alert) => alert.group !== undefined && pagerDedupKey(alert) === event.incidentKey) : [];
  if (grouped.length > 0) return grouped.map((alert) => alert.fingerprint);
  return open.filter((alert) => event.incidentId !== undefined && alert.pagerdutyIncidentId === event.incidentId).map((alert) => alert.fingerprint);
}
