import { createHash } from 'node:crypto';
import type { AlertEvent, AlertSink } from '../ports/alerts.ts';
import { takeInSignals, type AlertIntakeDeps } from './ingest-signals.ts';

/** The fingerprint of one of the bot's own alerts: its name and key. */
export function ownAlertFingerprint(alert: string, key: string): string {
  return createHash('sha256').update(`dr-bot\0${alert}\0${key}`).digest('hex').slice(0, 16);
}

/** The bot's own alerts (backup_job_failure, run_interrupted…) taken in like any other: state, routing, outbox. */
export function outboxAlertSink(intake: AlertIntakeDeps): AlertSink {
  return {
    async raise(event: AlertEvent) {
      await takeInSignals(intake, [{ fingerprint: ownAlertFingerprint(event.alert, event.key), alert: event.alert, severity: event.severity, status: 'firing', summary: event.summary, labels: event.details, source: 'dr-bot' }]);
    },
    async resolve(alert, key) {
      await takeInSignals(intake, [{ fingerprint: ownAlertFingerprint(alert, key), alert, severity: 'warning', status: 'resolved', summary: '', labels: {}, source: 'dr-bot' }]);
    },
  };
}

/** A wake-up call from whoever queued notifications to whoever delivers them (the outbox worker). */
export interface WakeSignal {
  fire(): void;
  listen(listener: () => void): void;
}

/** A wake signal with any number of listeners. */
export function createWakeSignal(): WakeSignal {
  const listeners: Array<() => void> = [];
  return {
    fire: () => listeners.forEach((listener) => listener()),
    listen: (listener) => void listeners.push(listener),
  };
}
