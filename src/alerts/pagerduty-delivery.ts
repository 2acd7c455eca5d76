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
  /** A link back to where people talk about it, e.g. the Slack channel. */
  slackLink?: (fingerprint: string) => Promise<string | undefined>;
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
            const link = await deps.slackLink?.(alert.fingerprint);
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
