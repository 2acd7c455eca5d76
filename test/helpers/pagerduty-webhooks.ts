// Sends PagerDuty webhooks (v3) the way PagerDuty does: a JSON body signed with X-PagerDuty-Signature.
import { createHmac, randomUUID } from 'node:crypto';

/** `v1=<hex HMAC-SHA256 of the raw body>` under one secret. */
export function pagerDutySignature(secret: string, rawBody: string): string {
  return `v1=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}

/** What an incident event says; everything else is filled in as PagerDuty fills it. */
export interface IncidentEventFields {
  /** `event.data.incident_key`: the dedup_key of the Events API trigger; omitted when undefined. */
  incidentKey?: string;
  /** `event.data.id`, PagerDuty's incident id. */
  incidentId?: string;
  /** `event.agent.summary`: who did it. */
  agent?: string;
  occurredAt?: string;
  /** `event.id` (a fresh UUID unless given: a redelivery reuses it). */
  eventId?: string;
}

/** A v3 webhook body for an incident event, shaped like PagerDuty's documented example. */
export function incidentEvent(type: string, fields: IncidentEventFields = {}): Record<string, unknown> {
  const incidentId = fields.incidentId ?? 'PGR0VU2';
  return {
    event: {
      id: fields.eventId ?? randomUUID(),
      event_type: type,
      resource_type: 'incident',
      occurred_at: fields.occurredAt ?? new Date().toISOString(),
      agent: { html_url: 'https://acme.pagerduty.com/users/PLH1HKV', id: 'PLH1HKV', self: 'https://api.pagerduty.com/users/PLH1HKV', summary: fields.agent ?? 'Tenex Engineer', type: 'user_reference' },
      client: { name: 'PagerDuty' },
      data: {
        id: incidentId,
        type: 'incident',
        self: `https://api.pagerduty.com/incidents/${incidentId}`,
        html_url: `https://acme.pagerduty.com/incidents/${incidentId}`,
        number: 2,
        status: type.replace('incident.', ''),
        ...(fields.incidentKey === undefined ? {} : { incident_key: fields.incidentKey }),
        created_at: new Date().toISOString(),
        title: 'db_connection_failure: database down',
        service: { id: 'PF9KMXH', summary: 'Alphha DMS', type: 'service_reference' },
        assignees: [],
        urgency: 'high',
        resolve_reason: null,
      },
    },
  };
}

/**
 * POSTs a raw body to /webhooks/pagerduty signed with every secret in `secrets` (comma-separated, as during a
 * rotation); `signature` replaces the header outright (a forged or missing one: pass '' to leave it out).
 */
export async function sendPagerDutyWebhook(botUrl: string, secrets: readonly string[], rawBody: string, options: { signature?: string } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const signature = options.signature ?? secrets.map((secret) => pagerDutySignature(secret, rawBody)).join(',');
  const response = await fetch(`${botUrl}/webhooks/pagerduty`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'PagerDuty-Webhook/V3.0', ...(signature ? { 'x-pagerduty-signature': signature } : {}) },
    body: rawBody,
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}
