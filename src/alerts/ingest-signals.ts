import type { AlertRecord, AlertSignal } from '../domain/alert.ts';
import type { StateStore } from '../ports/state-store.ts';
import { acknowledge, applySignal, type AlertChange, type AlertRouting } from './router.ts';

/** What taking in alerts needs. */
export interface AlertIntakeDeps {
  store: StateStore;
  routing: AlertRouting;
  now: () => Date;
  /** Wakes the outbox worker: there is something to deliver. */
  kick?: () => void;
}

/**
 * Applies a batch of signals (one webhook, one probe cycle) in arrival order and saves the changes with
 * their notifications in one transaction; returns the alerts that changed.
 */
export async function takeInSignals(deps: AlertIntakeDeps, signals: readonly AlertSignal[]): Promise<AlertRecord[]> {
  if (signals.length === 0) return [];
  const now = deps.now().toISOString();
  const changed = await deps.store.changeAlerts(
    signals.map((s) => s.fingerprint),
    (existing) => {
      // A batch may fire and resolve the same alert: each signal sees the state the one before left.
      const current = new Map(existing);
      const changes = new Map<string, AlertChange>();
      for (const signal of signals) {
        const change = applySignal(current.get(signal.fingerprint), signal, deps.routing, now);
        if (!change) continue;
        current.set(signal.fingerprint, change.record);
        const earlier = changes.get(signal.fingerprint);
        changes.set(signal.fingerprint, { record: change.record, outbox: [...(earlier?.outbox ?? []), ...change.outbox] });
      }
      return [...changes.values()];
    },
  );
  if (changed.length > 0) deps.kick?.();
  return changed;
}

/** An acknowledgement from Slack (or the CLI): undefined when the alert is not firing any more. */
export async function acknowledgeAlert(deps: AlertIntakeDeps, fingerprint: string, actor: string): Promise<AlertRecord | undefined> {
  const [changed] = await deps.store.changeAlerts([fingerprint], (existing) => {
    const alert = existing.get(fingerprint);
    const change = alert ? acknowledge(alert, actor, deps.routing, deps.now().toISOString()) : undefined;
    return change ? [change] : [];
  });
  if (changed) deps.kick?.();
  return changed;
}
