import { fingerprintOf, type OutboxMessage } from '../domain/alert.ts';
import { errorText } from '../domain/errors.ts';
import { PagerError, type Pager } from '../ports/pager.ts';
import type { StateStore } from '../ports/state-store.ts';
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

/**
 * Delivers PagerDuty events from the outbox, one per alert change and never coalesced: trigger with the
 * alert's fingerprint as dedup_key, then acknowledge and resolve with the same key, in order.
 */
export function pagerDutyDeliverer(deps: PagerDeliveryDeps): OutboxDeliverer {
  return {
    async deliver(messages: readonly OutboxMessage[], report: (outcome: DeliveryOutcome) => Promise<void>): Promise<void> {
      const alerts = new Map((await deps.store.getAlerts([...new Set(messages.map((m) => fingerprintOf(m.payload)).filter((fp): fp is string => fp !== undefined))])).map((a) => [a.fingerprint, a]));
      for (const message of messages) {
        const payload = message.payload;
        const fingerprint = fingerprintOf(payload);
        const alert = fingerprint ? alerts.get(fingerprint) : undefined;
        if (payload.kind !== 'pagerduty' || !alert) {
          await report({ id: message.id, delivered: true });
          continue;
        }
        try {
          if (payload.action === 'trigger') {
            const link = deps.criticalChannel ? slackLink(deps.criticalChannel, await deps.store.alertMessage(alert.fingerprint, deps.criticalChannel)) : undefined;
            await deps.pager.send({
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
            });
          } else {
            await deps.pager.send({ action: payload.action, dedupKey: alert.fingerprint });
          }
          await report({ id: message.id, delivered: true });
        } catch (error) {
          const failure = error instanceof PagerError ? error : undefined;
          await report({ id: message.id, delivered: false, error: errorText(error), ...(failure?.retryAfterMs !== undefined ? { retryAfterMs: failure.retryAfterMs } : {}), ...(failure && !failure.retryable ? { permanent: true } : {}) });
          // Later events of the same alert must wait for this one; the rest of the batch may go on.
        }
      }
    },
  };
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
