import type { OutboxMessage } from '../domain/alert.ts';
import { errorText } from '../domain/errors.ts';
import { MailError, type Mailer } from '../ports/mailer.ts';
import type { StateStore } from '../ports/state-store.ts';
import type { DeliveryOutcome, OutboxDeliverer } from './outbox-worker.ts';

/** Warning alerts by e-mail: one mail when one fires and one when it resolves, from the outbox like everything else. */
export function emailDeliverer(deps: { mailer: Mailer; store: StateStore; systemName: string }): OutboxDeliverer {
  return {
    async deliver(messages: readonly OutboxMessage[], report: (outcome: DeliveryOutcome) => Promise<void>): Promise<void> {
      for (const message of messages) {
        const payload = message.payload;
        const [alert] = payload.kind === 'email' ? await deps.store.getAlerts([payload.fingerprint]) : [];
        if (payload.kind !== 'email' || !alert) {
          await report({ id: message.id, delivered: true });
          continue;
        }
        const labels = Object.entries(alert.labels).map(([key, value]) => `  ${key}=${value}`);
        try {
          await deps.mailer.send({
            subject: `[${deps.systemName}] ${payload.event === 'firing' ? 'WARNING' : 'RESOLVED'}: ${alert.alert}`,
            text: [
              `${alert.alert} (${alert.severity}) is ${payload.event === 'firing' ? 'firing' : 'resolved'}.`,
              '',
              alert.summary,
              '',
              `Firing since: ${alert.firingSince}`,
              ...(alert.resolvedAt ? [`Resolved at: ${alert.resolvedAt}`] : []),
              ...(labels.length ? ['Labels:', ...labels] : []),
              '',
              'Sent by dr-bot; the Slack message in the warning channel has the details.',
            ].join('\n'),
          });
          await report({ id: message.id, delivered: true });
        } catch (error) {
          await report({ id: message.id, delivered: false, error: errorText(error), ...(error instanceof MailError && !error.retryable ? { permanent: true } : {}) });
        }
      }
    },
  };
}
