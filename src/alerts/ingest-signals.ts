import { OUTBOX_PRIORITY, type AlertRecord, type AlertSignal, type OutboxInput } from '../domain/alert.ts';
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
      return shapeOutbox([...changes.values()]);
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

/**
 * More new alerts than this for one channel in one batch are a storm: Slack shows them as one digest (the
 * Slack deliverer's default digest threshold), queued behind new alerts and changes so a storm never holds
 * up the next new alert.
 */
export const STORM_THRESHOLD = 3;

/**
 * The batch's notifications as they are queued: one PagerDuty message per Alertmanager group and action (the
 * group is one incident, rendered from all its alerts at delivery), and a storm's Slack messages — its first
 * posts, or a storm of changes (a whole storm resolving) — demoted to digest messages, which are claimed
 * together so Slack gets one digest post or edit instead of thousands.
 */
export function shapeOutbox(changes: AlertChange[]): AlertChange[] {
  const groupPages = new Set<string>();
  const newPosts = new Map<string, OutboxInput[]>();
  for (const change of changes) {
    change.outbox = change.outbox.filter((message) => {
      const payload = message.payload;
      if (payload.kind === 'pagerduty_group') {
        const key = `${message.orderKey}\0${payload.action}`;
        if (groupPages.has(key)) return false;
        groupPages.add(key);
      }
      if (payload.kind === 'slack_alert') {
        const key = `${payload.channel}\0${message.priority ?? OUTBOX_PRIORITY.update}`;
        const posts = newPosts.get(key) ?? newPosts.set(key, []).get(key)!;
        posts.push(message);
      }
      return true;
    });
  }
  for (const posts of newPosts.values()) {
    if (posts.length > STORM_THRESHOLD) for (const message of posts) message.priority = OUTBOX_PRIORITY.digest;
  }
  return changes;
}
