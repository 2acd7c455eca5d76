import { groupDedupKey, OUTBOX_PRIORITY, type AlertRecord, type AlertSignal, type OutboxInput } from '../domain/alert.ts';

/** Where alerts go (DESIGN.md §7): channels by severity, security-flavoured ones also to security, paging and e-mail when set up. */
export interface AlertRouting {
  channels: { critical: string; warning: string; security: string };
  /** PagerDuty routing key present. */
  paging: boolean;
  /** `email` configured. */
  email: boolean;
}

// Catalog alerts about intrusion rather than breakage; anything labelled category=security counts too.
const SECURITY_ALERTS = new Set(['failed_login_spike']);

/** Whether an alert also belongs in the security channel. */
export function isSecurityAlert(alert: Pick<AlertRecord, 'alert' | 'labels'>): boolean {
  return SECURITY_ALERTS.has(alert.alert) || alert.labels.category === 'security';
}

/** The channels an alert is shown in. */
export function alertChannels(alert: Pick<AlertRecord, 'alert' | 'labels' | 'severity'>, routing: AlertRouting): string[] {
  const channels = [alert.severity === 'critical' ? routing.channels.critical : routing.channels.warning];
  if (isSecurityAlert(alert)) channels.push(routing.channels.security);
  return [...new Set(channels)];
}

/** A change to one alert and the notifications it causes. */
export interface AlertChange {
  record: AlertRecord;
  outbox: OutboxInput[];
}

/**
 * What a signal does to the stored alert: a new or returning alert fires (posted; paged when critical), a
 * repeat of a firing alert only refreshes it (deduplicated), a resolve resolves it (the same messages
 * updated, PagerDuty resolved with the same key). A returning (flapping) alert reuses its message.
 * Undefined when nothing changes (a resolve of an unknown or resolved alert).
 */
export function applySignal(existing: AlertRecord | undefined, signal: AlertSignal, routing: AlertRouting, now: string): AlertChange | undefined {
  const open = existing && existing.state !== 'resolved';
  if (signal.status === 'resolved') {
    if (!existing || !open) return undefined;
    const record: AlertRecord = { ...existing, state: 'resolved', resolvedAt: now, summary: signal.summary || existing.summary, ...groupOf(signal, existing) };
    return { record, outbox: notifications(record, routing, 'resolve') };
  }
  if (open) {
    if (signal.severity === 'critical' && existing.severity === 'warning') {
      // A warning that turns critical is the same alert, now paged, in the critical channel, escalating.
      const { escalatedAt: _escalated, ...rest } = existing;
      const record: AlertRecord = { ...rest, severity: 'critical', state: 'firing', lastFiredAt: now, summary: signal.summary, firingSince: now, ...groupOf(signal, existing) };
      return { record, outbox: notifications(record, routing, 'trigger') };
    }
    const details = alertmanagerDetails(signal);
    // A repeat that changes what the message shows (the summary, or how many alerts Alertmanager cut) edits it.
    const changed = existing.summary !== signal.summary || existing.truncatedAlerts !== details.truncatedAlerts;
    const { truncatedAlerts: _truncated, ...kept } = existing;
    const record: AlertRecord = { ...kept, lastFiredAt: now, summary: signal.summary, ...details, ...groupOf(signal, existing) };
    return { record, outbox: changed ? slackRefresh(record, routing, OUTBOX_PRIORITY.update) : [] };
  }
  const record: AlertRecord = {
    fingerprint: signal.fingerprint,
    alert: signal.alert,
    severity: signal.severity,
    state: 'firing',
    summary: signal.summary,
    labels: signal.labels,
    source: signal.source,
    ...(signal.link ? { link: signal.link } : {}),
    ...alertmanagerDetails(signal),
    ...groupOf(signal, existing),
    firstFiredAt: existing?.firstFiredAt ?? now,
    firingSince: now,
    lastFiredAt: now,
    fireCount: (existing?.fireCount ?? 0) + 1,
  };
  const outbox = notifications(record, routing, 'trigger');
  // An edit notifies nobody: a returning alert is also announced in its message's thread, to the channel.
  if (existing) {
    for (const channel of alertChannels(record, routing)) {
      outbox.push({ target: 'slack', orderKey: `slack:${channel}:${record.fingerprint}`, payload: { kind: 'slack_alert_refired', fingerprint: record.fingerprint, channel }, priority: OUTBOX_PRIORITY.trigger });
    }
  }
  return { record, outbox };
}

// What Alertmanager said about the alert beyond its labels: links, and how many alerts of its group it cut.
function alertmanagerDetails(signal: AlertSignal): Pick<AlertRecord, 'runbookUrl' | 'alertmanagerUrl' | 'truncatedAlerts' | 'groupKey'> {
  return {
    ...(signal.runbookUrl ? { runbookUrl: signal.runbookUrl } : {}),
    ...(signal.alertmanagerUrl ? { alertmanagerUrl: signal.alertmanagerUrl } : {}),
    ...(signal.truncatedAlerts ? { truncatedAlerts: signal.truncatedAlerts } : {}),
    ...(signal.groupKey ? { groupKey: signal.groupKey } : {}),
  };
}

/**
 * Someone acknowledged the alert: the messages say who, PagerDuty stops paging, escalation stops. An
 * acknowledgement made in PagerDuty (`fromPagerDuty`) is not sent back to it.
 */
export function acknowledge(existing: AlertRecord, actor: string, routing: AlertRouting, now: string, options: { fromPagerDuty?: boolean } = {}): AlertChange | undefined {
  if (existing.state !== 'firing') return undefined;
  const record: AlertRecord = { ...existing, state: 'acknowledged', acknowledgedBy: actor, acknowledgedAt: now };
  return { record, outbox: notifications(record, options.fromPagerDuty ? { ...routing, paging: false } : routing, 'acknowledge') };
}

// The group a signal came in, else the one the alert had: an alert follows Alertmanager's grouping as it changes.
function groupOf(signal: AlertSignal, existing: AlertRecord | undefined): Pick<AlertRecord, 'group'> {
  const group = signal.group ?? existing?.group;
  return group === undefined ? {} : { group };
}

function slackRefresh(record: AlertRecord, routing: AlertRouting, priority: OutboxInput['priority']): OutboxInput[] {
  return alertChannels(record, routing).map((channel) => ({ target: 'slack', orderKey: `slack:${channel}:${record.fingerprint}`, payload: { kind: 'slack_alert', fingerprint: record.fingerprint, channel }, priority }));
}

function notifications(record: AlertRecord, routing: AlertRouting, action: 'trigger' | 'acknowledge' | 'resolve'): OutboxInput[] {
  // A new alert goes before changes to known ones (DESIGN.md §7: a new page never waits behind a backlog).
  const priority = action === 'trigger' ? OUTBOX_PRIORITY.trigger : OUTBOX_PRIORITY.update;
  const outbox = slackRefresh(record, routing, priority);
  if (record.severity === 'critical' && routing.paging) {
    // An Alertmanager group is one incident, as with Alertmanager's own PagerDuty integration; takeInSignals
    // keeps one such message per group and action out of a webhook.
    outbox.push(
      record.group
        ? { target: 'pagerduty', orderKey: `pagerduty:${groupDedupKey(record.group)}`, payload: { kind: 'pagerduty_group', group: record.group, action }, priority }
        : { target: 'pagerduty', orderKey: `pagerduty:${record.fingerprint}`, payload: { kind: 'pagerduty', fingerprint: record.fingerprint, action }, priority },
    );
  }
  if (record.severity === 'warning' && routing.email && action !== 'acknowledge') {
    outbox.push({ target: 'email', orderKey: `email:${record.fingerprint}`, payload: { kind: 'email', fingerprint: record.fingerprint, event: action === 'trigger' ? 'firing' : 'resolved' }, priority });
  }
  return outbox;
}
