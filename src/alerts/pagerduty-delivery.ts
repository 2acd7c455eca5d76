import { groupDedupKey, type AlertRecord, type OutboxMessage } from '../domain/alert.ts';
import { errorText } from '../domain/errors.ts';
import { PagerError, type Pager, type PagerEvent } from '../ports/pager.ts';
import type { PagerKeyState, StateStore } from '../ports/state-store.ts';
import type { DeliveryOutcome, OutboxDeliverer } from './outbox-worker.ts';

/** What paging needs: the pager, the alerts, and what to name as the source. */
export interface PagerDeliveryDeps {
  pager: Pager;
  store: StateStore;
  /** The affected system (`system.name`), PagerDuty's `source`. */
  source: string;
  /** The channel critical alerts are posted in: the page links back to the alert's message there. */
  criticalChannel?: string;
}

// A group's page lists this many of its open alerts in custom_details; the rest are counted (PagerDuty caps an
// event at 512 KB, and a 10,000-alert storm must still page).
const GROUP_DETAIL_ALERTS = 50;

/** What to do with one PagerDuty message, decided from the newest alert state and what PagerDuty was told. */
type Decision = { send: PagerEvent; state: PagerKeyState } | { drop: string; state?: PagerKeyState };

/**
 * Delivers PagerDuty events from the outbox, in order per dedup_key: trigger, then acknowledge and resolve with
 * the same key. An alert's key is its fingerprint; an Alertmanager group's is the SHA-256 of its groupKey, so the
 * group is one incident that lists its alerts, is acknowledged once all its open alerts are, and resolves when all
 * have. A trigger whose alert (or whole group) resolved before it went out is dropped, and so is its resolve.
 */
export function pagerDutyDeliverer(deps: PagerDeliveryDeps): OutboxDeliverer {
  const decideAlert = async (alert: AlertRecord, action: 'trigger' | 'acknowledge' | 'resolve'): Promise<Decision> => {
    const told = await deps.store.pagerKeyState(alert.fingerprint);
    if (action === 'trigger') {
      if (alert.state === 'resolved') return { drop: 'the alert resolved before it was paged', ...neverPaged(told) };
      const link = deps.criticalChannel ? slackLink(deps.criticalChannel, await deps.store.alertMessage(alert.fingerprint, deps.criticalChannel)) : undefined;
      return {
        state: 'triggered',
        send: {
          action: 'trigger',
          dedupKey: alert.fingerprint,
          summary: `${alert.alert}: ${alert.summary}`,
          severity: alert.severity === 'critical' ? 'critical' : 'warning',
          source: deps.source,
          component: alert.labels.component ?? alert.alert,
          class: alert.alert,
          customDetails: { ...alert.labels, fired: alert.firstFiredAt, fire_count: alert.fireCount, origin: alert.source },
          timestamp: alert.lastFiredAt,
          ...(link ? { links: [{ href: link, text: 'Slack message' }] } : {}),
        },
      };
    }
    if (told === 'resolved' || told === 'dropped') return { drop: `PagerDuty has no open incident for it (${told})` };
    return { state: action === 'acknowledge' ? 'acknowledged' : 'resolved', send: { action, dedupKey: alert.fingerprint } };
  };

  const decideGroup = async (group: string, action: 'trigger' | 'acknowledge' | 'resolve'): Promise<Decision> => {
    const dedupKey = groupDedupKey(group);
    const told = await deps.store.pagerKeyState(dedupKey);
    // Only its critical alerts page: a group may mix in warnings, which are posted but never paged.
    const counts = await deps.store.countGroupAlerts(group, { severity: 'critical' });
    const firing = counts.firing ?? 0;
    const open = firing + (counts.acknowledged ?? 0);
    if (action === 'trigger') {
      if (open === 0) return { drop: 'every alert of the group resolved before it was paged', ...neverPaged(told) };
      const alerts = await deps.store.listGroupAlerts(group, { states: ['firing', 'acknowledged'], severity: 'critical', limit: GROUP_DETAIL_ALERTS });
      const names = [...new Set(alerts.map((a) => a.alert))];
      const first = alerts[0];
      const link = deps.criticalChannel && first ? slackLink(deps.criticalChannel, await deps.store.alertMessage(first.fingerprint, deps.criticalChannel)) : undefined;
      const shownNames = names.slice(0, 3).join(', ') + (names.length > 3 ? ', …' : '');
      return {
        state: 'triggered',
        send: {
          action: 'trigger',
          dedupKey,
          summary: `[FIRING:${open}] ${shownNames}${open === 1 && first ? `: ${first.summary}` : ''}`,
          severity: 'critical',
          source: deps.source,
          component: first?.labels.component ?? (names.length === 1 ? names[0]! : 'alertmanager group'),
          class: names.length === 1 ? names[0]! : 'alertmanager group',
          customDetails: {
            group,
            num_firing: firing,
            num_acknowledged: counts.acknowledged ?? 0,
            num_resolved: counts.resolved ?? 0,
            firing: alerts.map((a) => `${a.alert}: ${a.summary}${labelText(a.labels)}`),
            ...(open > alerts.length ? { more: `${open - alerts.length} more open alerts in this group (\`/dr alerts\` lists them all)` } : {}),
          },
          timestamp: alerts.reduce((newest, a) => (a.lastFiredAt > newest ? a.lastFiredAt : newest), first?.lastFiredAt ?? new Date(0).toISOString()),
          ...(link ? { links: [{ href: link, text: 'Slack message' }] } : {}),
        },
      };
    }
    if (told === 'resolved' || told === 'dropped') return { drop: `PagerDuty has no open incident for the group (${told})` };
    // The group's one incident is acknowledged once every open alert of it is, and resolved once none is open.
    if (action === 'acknowledge' && firing > 0) return { drop: `${firing} alert(s) of the group are still unacknowledged` };
    if (action === 'resolve' && open > 0) return { drop: `${open} alert(s) of the group are still open` };
    return { state: action === 'acknowledge' ? 'acknowledged' : 'resolved', send: { action, dedupKey } };
  };

  return {
    async deliver(messages: readonly OutboxMessage[], report: (outcome: DeliveryOutcome) => Promise<void>): Promise<void> {
      const fingerprints = messages.flatMap((m) => (m.payload.kind === 'pagerduty' ? [m.payload.fingerprint] : []));
      const alerts = new Map((await deps.store.getAlerts([...new Set(fingerprints)])).map((a) => [a.fingerprint, a]));
      for (const message of messages) {
        const payload = message.payload;
        try {
          let decision: Decision;
          if (payload.kind === 'pagerduty') {
            const alert = alerts.get(payload.fingerprint);
            if (!alert) {
              await report({ id: message.id, delivered: true, dropped: 'the alert is unknown' });
              continue;
            }
            decision = await decideAlert(alert, payload.action);
          } else if (payload.kind === 'pagerduty_group') {
            decision = await decideGroup(payload.group, payload.action);
          } else {
            await report({ id: message.id, delivered: false, error: `not a PagerDuty message (${payload.kind})`, permanent: true });
            continue;
          }
          if ('drop' in decision) {
            if (decision.state) await deps.store.setPagerKeyState(payloadKey(payload), decision.state);
            await report({ id: message.id, delivered: true, dropped: decision.drop });
            continue;
          }
          await deps.pager.send(decision.send);
          await deps.store.setPagerKeyState(decision.send.dedupKey, decision.state);
          await report({ id: message.id, delivered: true });
        } catch (error) {
          const failure = error instanceof PagerError ? error : undefined;
          await report({ id: message.id, delivered: false, error: errorText(error), ...(failure?.retryAfterMs !== undefined ? { retryAfterMs: failure.retryAfterMs } : {}), ...(failure && !failure.retryable ? { permanent: true } : {}) });
          // Later events of the same key must wait for this one; the rest of the batch may go on.
        }
      }
    },
  };
}

// A trigger dropped for a key PagerDuty never heard of (or whose incident is over) leaves nothing to resolve;
// one dropped while an earlier incident is still open leaves that incident's resolve to go out.
function neverPaged(told: PagerKeyState | undefined): { state?: PagerKeyState } {
  return told === 'triggered' || told === 'acknowledged' ? {} : { state: 'dropped' };
}

function payloadKey(payload: OutboxMessage['payload']): string {
  if (payload.kind === 'pagerduty_group') return groupDedupKey(payload.group);
  return 'fingerprint' in payload ? payload.fingerprint : '';
}

// The labels that tell a group's alerts apart (its name is shown already), short.
function labelText(labels: Readonly<Record<string, string>>): string {
  const shown = Object.entries(labels).filter(([key]) => key !== 'alertname' && key !== 'severity');
  return shown.length ? ` (${shown.slice(0, 6).map(([key, value]) => `${key}=${value.slice(0, 80)}`).join(', ')})` : '';
}

/**
 * A link from the page to Slack: the alert's own message when it is already posted and the channel is
 * configured by id (a permalink needs the id), otherwise the channel.
 */
export function slackLink(channel: string, ts: string | undefined): string {
  if (ts && !ts.startsWith('digest:') && /^[CG][A-Z0-9]+$/.test(channel)) return `https://slack.com/archives/${channel}/p${ts.replace('.', '')}`;
  if (ts?.startsWith('digest:') && /^[CG][A-Z0-9]+$/.test(channel)) return `https://slack.com/archives/${channel}/p${ts.slice('digest:'.length).replace('.', '')}`;
  return `https://slack.com/app_redirect?channel=${encodeURIComponent(channel.replace(/^#/, ''))}`;
}
