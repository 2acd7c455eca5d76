import { createHash } from 'node:crypto';

/** How bad an alert is: critical pages, warning only posts (DESIGN.md §7). */
export type AlertSeverity = 'critical' | 'warning';

/** Where an alert is in its life. */
export type AlertState = 'firing' | 'acknowledged' | 'resolved';

/** One alert, deduplicated by fingerprint, persisted with where it was posted. */
export interface AlertRecord {
  fingerprint: string;
  /** The catalog name (`db_connection_failure`) or Alertmanager's alertname. */
  alert: string;
  severity: AlertSeverity;
  state: AlertState;
  summary: string;
  labels: Record<string, string>;
  source: string;
  /** Alertmanager's generatorURL: the rule's graph (rendered as a link only when it is a safe http(s) URL). */
  link?: string;
  /** The `runbook_url` annotation. */
  runbookUrl?: string;
  /** Alertmanager's `externalURL`: the Alertmanager that sent it. */
  alertmanagerUrl?: string;
  /** Alertmanager's `truncatedAlerts` of the webhook that last brought it: alerts of its group left out. */
  truncatedAlerts?: number;
  /** Alertmanager's key of the group it came in (several alerts of one webhook share it). */
  groupKey?: string;
  firstFiredAt: string;
  /** When its current firing began (a flapping alert starts again here): reminders and escalation count from it. */
  firingSince: string;
  lastFiredAt: string;
  /** How many times it fired (again) since it was first seen. */
  fireCount: number;
  /** A Slack user id, or "<name> in PagerDuty" when it was acknowledged there. */
  acknowledgedBy?: string;
  acknowledgedAt?: string;
  /** PagerDuty's id of the incident paging for it, once a PagerDuty webhook named it. */
  pagerdutyIncidentId?: string;
  resolvedAt?: string;
  lastReminderAt?: string;
  escalatedAt?: string;
  /** Alertmanager's `groupKey` of the webhook it came in: the group pages as one PagerDuty incident. */
  group?: string;
}

/** Where a queued notification goes. */
export type OutboxTarget = 'slack' | 'pagerduty' | 'email';

/**
 * Which due messages of a target go first (lower first): the outbox's own notices, then new alerts (a first
 * post, a PagerDuty trigger), then changes to known ones, then a storm's alerts (shown as a digest). Within one
 * priority every order key gets a turn (only the head of a key is ever due), oldest head first.
 */
export const OUTBOX_PRIORITY = { notice: 0, trigger: 1, update: 2, digest: 3 } as const;

/** One of {@link OUTBOX_PRIORITY}'s values. */
export type OutboxPriority = (typeof OUTBOX_PRIORITY)[keyof typeof OUTBOX_PRIORITY];

/** A notification waiting to be delivered (or delivered): the durable outbox of DESIGN.md §7. */
export interface OutboxMessage {
  id: number;
  target: OutboxTarget;
  /** Messages with the same key are delivered strictly in order (one alert's post before its update). */
  orderKey: string;
  /** What to deliver, rendered at delivery time from the newest alert state. */
  payload: OutboxPayload;
  priority: OutboxPriority;
  /** `dropped`: not sent because it no longer mattered (a trigger whose alert resolved before it went out). */
  status: 'pending' | 'delivered' | 'dead' | 'dropped';
  attempts: number;
  nextAttemptAt: string;
  createdAt: string;
  deliveredAt?: string;
  lastError?: string;
  /** Set when this message was leased before and never settled (its deliverer died mid-way): it may have gone out. */
  retaken?: boolean;
}

/** The kinds of notification the outbox carries. */
export type OutboxPayload =
  /** Shows the alert's current state in the channel: a post the first time, then edits of that same message. */
  | { kind: 'slack_alert'; fingerprint: string; channel: string }
  | { kind: 'slack_alert_reminder'; fingerprint: string; channel: string }
  /** A resolved alert firing again: its old message is edited back to firing, and this says so out loud. */
  | { kind: 'slack_alert_refired'; fingerprint: string; channel: string }
  | { kind: 'slack_escalation'; fingerprint: string; channel: string }
  /** A line in the alert's thread (e.g. "resolved in PagerDuty"); `text` is mrkdwn, its outside parts escaped. */
  | { kind: 'slack_alert_note'; fingerprint: string; channel: string; text: string }
  | { kind: 'pagerduty'; fingerprint: string; action: 'trigger' | 'acknowledge' | 'resolve' }
  /** An Alertmanager group's one PagerDuty incident: triggered while any of its alerts fires, resolved when all have. */
  | { kind: 'pagerduty_group'; group: string; action: 'trigger' | 'acknowledge' | 'resolve' }
  /** The outbox's own health (a backlog, a message given up on), said in the critical channel. */
  | { kind: 'slack_notice'; channel: string; text: string }
  /** An incident's parent message in the stakeholder channel, posted once and edited in place. */
  | { kind: 'slack_incident'; incidentId: string; channel: string }
  /** A line in an incident's thread (an update, a run summary, a notice, the resolution). */
  | { kind: 'slack_incident_note'; incidentId: string; channel: string; text: string }
  /** The incident's checklist message, edited to its current ticks. */
  | { kind: 'slack_checklist'; incidentId: string; channel: string }
  | { kind: 'email'; fingerprint: string; event: 'firing' | 'resolved' };

/** An alert as it arrives (Alertmanager, POST /alerts, a probe), before it meets the stored state. */
export interface AlertSignal {
  fingerprint: string;
  alert: string;
  severity: AlertSeverity;
  status: 'firing' | 'resolved';
  summary: string;
  labels: Record<string, string>;
  source: string;
  link?: string;
  runbookUrl?: string;
  alertmanagerUrl?: string;
  truncatedAlerts?: number;
  groupKey?: string;
  /** Alertmanager's `groupKey`, for alerts that came in an Alertmanager webhook. */
  group?: string;
}

/** A notification to queue; without a priority it is an update (notices: a notice). */
export type OutboxInput = Pick<OutboxMessage, 'target' | 'orderKey' | 'payload'> & { priority?: OutboxPriority };

/** The priority a message is queued with when its producer did not choose one. */
export function defaultPriority(payload: OutboxPayload): OutboxPriority {
  return payload.kind === 'slack_notice' ? OUTBOX_PRIORITY.notice : OUTBOX_PRIORITY.update;
}

/**
 * The PagerDuty `dedup_key` of an alert: its Alertmanager group's (the SHA-256 of the groupKey, as Alertmanager's
 * own PagerDuty integration derives it), else its fingerprint.
 */
export function pagerDedupKey(alert: Pick<AlertRecord, 'fingerprint' | 'group'>): string {
  return alert.group ? groupDedupKey(alert.group) : alert.fingerprint;
}

/** The `dedup_key` of an Alertmanager group's incident: hex SHA-256 of its groupKey. */
export function groupDedupKey(group: string): string {
  return createHash('sha256').update(group).digest('hex');
}

/** The alert a notification is about, if it is about one. */
export function fingerprintOf(payload: OutboxPayload): string | undefined {
  return 'fingerprint' in payload ? payload.fingerprint : undefined;
}
