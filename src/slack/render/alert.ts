import type { ActionsBlock, KnownBlock } from '@slack/types';
import type { AlertRecord } from '../../domain/alert.ts';
import { ALERT_ACTION, ALERT_BLOCK } from '../ids.ts';
import { escapeMrkdwn, mention } from '../../render/mrkdwn.ts';
import { alertLines } from '../../render/plan.ts';

const STATE_ICON = { firing: '🚨', acknowledged: '👀', resolved: '✅' } as const;
const SEVERITY_ICON = { critical: '🔴', warning: '🟠' } as const;

/** Who is mentioned on an alert: the DBA contact for database alerts. */
export interface AlertContacts {
  dba?: string;
}

/** Whether an alert is about the database (and so concerns the DBA). */
export function isDatabaseAlert(alert: Pick<AlertRecord, 'alert' | 'labels'>): boolean {
  return alert.alert.startsWith('db_') || alert.labels.component === 'database';
}

function stateLine(alert: AlertRecord): string {
  // A Slack user is mentioned; someone who acknowledged in PagerDuty is named as PagerDuty gave the name (escaped).
  if (alert.state === 'resolved') return `Resolved ${alert.resolvedAt}${alert.acknowledgedBy ? ` (acknowledged by ${mention(alert.acknowledgedBy)})` : ''}`;
  if (alert.state === 'acknowledged') return `Acknowledged by ${mention(alert.acknowledgedBy ?? 'someone')} at ${alert.acknowledgedAt}`;
  return `Firing since ${alert.firingSince}${alert.fireCount > 1 ? ` (fired ${alert.fireCount} times since ${alert.firstFiredAt})` : ''} — not acknowledged`;
}

/** One alert's message: what, how bad, since when, who has it; Acknowledge while it fires. */
export function alertBlocks(alert: AlertRecord, contacts: AlertContacts = {}): { text: string; blocks: KnownBlock[] } {
  const head = `${STATE_ICON[alert.state]} ${SEVERITY_ICON[alert.severity]} *${escapeMrkdwn(alert.alert)}* (${alert.severity}) — ${escapeMrkdwn(alert.summary.slice(0, 500))}`;
  const labels = Object.entries(alert.labels)
    .filter(([key]) => key !== 'alertname')
    .slice(0, 10)
    .map(([key, value]) => `${escapeMrkdwn(key)}=${escapeMrkdwn(value.slice(0, 80))}`);
  const lines = [
    stateLine(alert),
    ...(labels.length ? [`Labels: ${labels.join(', ')}`] : []),
    ...(alert.link ? [`<${alert.link}|source>`] : []),
    ...(isDatabaseAlert(alert) && contacts.dba && alert.state !== 'resolved' ? [`DBA: ${mention(contacts.dba)}`] : []),
  ];
  const blocks: KnownBlock[] = [
    { type: 'section', block_id: ALERT_BLOCK.summary, text: { type: 'mrkdwn', text: head } },
    { type: 'context', block_id: ALERT_BLOCK.details, elements: [{ type: 'mrkdwn', text: lines.join('\n') }] },
  ];
  if (alert.state === 'firing') blocks.push(alertActions(alert));
  return { text: `${STATE_ICON[alert.state]} ${alert.alert} (${alert.severity}) ${alert.state}: ${alert.summary.slice(0, 200)}`, blocks };
}

function alertActions(alert: AlertRecord): ActionsBlock {
  return {
    type: 'actions',
    block_id: ALERT_BLOCK.actions,
    elements: [
      { type: 'button', action_id: ALERT_ACTION.acknowledge, style: 'primary', text: { type: 'plain_text', text: 'Acknowledge' }, value: alert.fingerprint },
      { type: 'button', action_id: ALERT_ACTION.declareIncident, text: { type: 'plain_text', text: 'Declare incident' }, value: alert.fingerprint },
    ],
  };
}

// A digest shows this many alerts by name; the rest are counted.
const DIGEST_LINES = 40;

/** Many alerts at once, as one message: counts by state, then one line each (DESIGN.md §7: a burst is a digest). */
export function digestBlocks(alerts: readonly AlertRecord[]): { text: string; blocks: KnownBlock[] } {
  const firing = alerts.filter((a) => a.state !== 'resolved').length;
  const head = `🚨 *${alerts.length} alerts* in one burst — ${firing} firing, ${alerts.length - firing} resolved`;
  const lines = alerts.slice(0, DIGEST_LINES).map((a) => `${STATE_ICON[a.state]} ${SEVERITY_ICON[a.severity]} *${escapeMrkdwn(a.alert)}* — ${escapeMrkdwn(a.summary.slice(0, 120))}`);
  const more = alerts.length > DIGEST_LINES ? [`…and ${alerts.length - DIGEST_LINES} more (\`/dr alerts\` lists them all)`] : [];
  return {
    text: `${alerts.length} alerts: ${firing} firing, ${alerts.length - firing} resolved`,
    blocks: [{ type: 'section', block_id: ALERT_BLOCK.digest, text: { type: 'mrkdwn', text: [head, ...lines, ...more].join('\n').slice(0, 3000) } }],
  };
}

/** `/dr alerts`: every open alert, one line each. */
export function alertListBlocks(alerts: readonly AlertRecord[], now: Date): { text: string; blocks: KnownBlock[] } {
  const lines = alertLines(alerts, now).map(escapeMrkdwn);
  const text = alerts.length === 0 ? '✅ No alert is firing.' : `${alerts.length} alert${alerts.length === 1 ? '' : 's'} open:`;
  return { text, blocks: [{ type: 'section', block_id: ALERT_BLOCK.list, text: { type: 'mrkdwn', text: [text, ...lines.slice(0, 40)].join('\n').slice(0, 3000) } }] };
}
