import type { ActionsBlock, KnownBlock } from '@slack/types';
import type { AlertRecord } from '../../domain/alert.ts';
import { ALERT_ACTION, ALERT_BLOCK } from '../ids.ts';
import { clampPlain, escapeInline, escapeMrkdwn, mention, mrkdwnLink } from '../../render/mrkdwn.ts';
import { alertLines } from '../../render/plan.ts';
import { fitMessage, type SlackMessage } from './limits.ts';

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

/** Alertmanager's note that it left alerts of this group out of its webhook (`max_alerts`). */
export function truncatedLine(count: number): string {
  return `⚠️ ${count} more alert${count === 1 ? ' was' : 's were'} cut by Alertmanager (its webhook max_alerts); see Alertmanager for the rest.`;
}

/** The links an alert carries, each only when it is a safe http(s) URL (otherwise shown as text). */
function linkLine(alert: AlertRecord): string[] {
  const links = [
    ...(alert.link ? [mrkdwnLink(alert.link, 'source')] : []),
    ...(alert.runbookUrl ? [mrkdwnLink(alert.runbookUrl, 'runbook')] : []),
    ...(alert.alertmanagerUrl ? [mrkdwnLink(alert.alertmanagerUrl, 'Alertmanager')] : []),
  ];
  return links.length ? [links.join(' · ')] : [];
}

/** One line of text naming an alert (reminders, escalations, fallbacks): name and summary, escaped. */
export function alertTextLine(alert: Pick<AlertRecord, 'alert' | 'summary'>, summaryChars = 300): string {
  return `*${escapeInline(alert.alert)}* — ${escapeInline(clampPlain(alert.summary, summaryChars))}`;
}

/** One alert's message: what, how bad, since when, who has it; Acknowledge while it fires. */
export function alertBlocks(alert: AlertRecord, contacts: AlertContacts = {}): SlackMessage {
  const head = `${STATE_ICON[alert.state]} ${SEVERITY_ICON[alert.severity]} *${escapeInline(alert.alert)}* (${alert.severity}) — ${escapeMrkdwn(alert.summary)}`;
  const labels = Object.entries(alert.labels)
    .filter(([key]) => key !== 'alertname')
    .map(([key, value]) => `${escapeInline(key)}=${escapeInline(value)}`);
  const lines = [
    stateLine(alert),
    ...(alert.truncatedAlerts ? [truncatedLine(alert.truncatedAlerts)] : []),
    ...linkLine(alert),
    ...(isDatabaseAlert(alert) && contacts.dba && alert.state !== 'resolved' ? [`DBA: ${mention(contacts.dba)}`] : []),
    // Last: labels are the longest part, and the part cut first when the context would pass Slack's limit.
    ...(labels.length ? [`Labels: ${labels.join(', ')}`] : []),
  ];
  const blocks: KnownBlock[] = [
    { type: 'section', block_id: ALERT_BLOCK.summary, text: { type: 'mrkdwn', text: head } },
    { type: 'context', block_id: ALERT_BLOCK.details, elements: [{ type: 'mrkdwn', text: lines.join('\n') }] },
  ];
  if (alert.state === 'firing') blocks.push(alertActions(alert));
  return fitMessage({ text: `${STATE_ICON[alert.state]} ${escapeInline(alert.alert)} (${alert.severity}) ${alert.state}: ${escapeInline(clampPlain(alert.summary, 200))}`, blocks });
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
export function digestBlocks(alerts: readonly AlertRecord[]): SlackMessage {
  const firing = alerts.filter((a) => a.state !== 'resolved').length;
  const head = `🚨 *${alerts.length} alerts* in one burst — ${firing} firing, ${alerts.length - firing} resolved`;
  const lines = alerts.slice(0, DIGEST_LINES).map((a) => `${STATE_ICON[a.state]} ${SEVERITY_ICON[a.severity]} ${alertTextLine(a, 120)}`);
  const more = alerts.length > DIGEST_LINES ? [`…and ${alerts.length - DIGEST_LINES} more (\`/dr alerts\` lists them all)`] : [];
  // One count per Alertmanager group: its alerts all carry the same truncatedAlerts.
  const truncatedByGroup = new Map<string, number>();
  for (const a of alerts) if (a.truncatedAlerts) truncatedByGroup.set(a.groupKey ?? a.fingerprint, a.truncatedAlerts);
  const truncated = [...truncatedByGroup.values()].reduce((sum, n) => sum + n, 0);
  return fitMessage({
    text: `${alerts.length} alerts: ${firing} firing, ${alerts.length - firing} resolved`,
    blocks: [
      { type: 'section', block_id: ALERT_BLOCK.digest, text: { type: 'mrkdwn', text: [head, ...lines, ...more].join('\n') } },
      ...(truncated > 0 ? [{ type: 'context' as const, block_id: ALERT_BLOCK.truncated, elements: [{ type: 'mrkdwn' as const, text: truncatedLine(truncated) }] }] : []),
    ],
  });
}

/** `/dr alerts`: every open alert, one line each. */
export function alertListBlocks(alerts: readonly AlertRecord[], now: Date): SlackMessage {
  const lines = alertLines(alerts, now).map(escapeInline);
  const text = alerts.length === 0 ? '✅ No alert is firing.' : `${alerts.length} alert${alerts.length === 1 ? '' : 's'} open:`;
  return fitMessage({ text, blocks: [{ type: 'section', block_id: ALERT_BLOCK.list, text: { type: 'mrkdwn', text: [text, ...lines.slice(0, 40)].join('\n') } }] });
}
