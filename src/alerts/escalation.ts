import type { AlertRecord, OutboxInput } from '../domain/alert.ts';
import type { StateStore } from '../ports/state-store.ts';
import { escapeInline } from '../render/mrkdwn.ts';
import { alertChannels, type AlertRouting } from './router.ts';

/** What reminders and escalation need: the store, routing, the two delays, and a clock tests can move. */
export interface EscalationDeps {
  store: StateStore;
  routing: AlertRouting;
  stakeholdersChannel: string;
  /** `alerts.repeat`: a firing, unacknowledged alert is brought up again this often. */
  repeatMs: number;
  /** `escalation.after`: a critical alert unacknowledged this long mentions management. */
  escalateAfterMs: number;
  now: () => Date;
  kick?: () => void;
}

/**
 * One pass over the open alerts (DESIGN.md §7): a reminder for each firing, unacknowledged alert not
 * brought up for `repeat`; one escalation to the stakeholder channel for each critical alert unacknowledged
 * for `escalation.after`. Acknowledging stops both. Returns how many notifications it queued.
 */
export async function remindAndEscalate(deps: EscalationDeps): Promise<number> {
  const now = deps.now();
  const firing = await deps.store.listAlerts({ states: ['firing'], limit: 10_000 });
  const due = firing.filter((a) => reminderDue(a, now, deps) || escalationDue(a, now, deps));
  if (due.length === 0) return 0;
  const incident = await deps.store.currentIncident();
  let queued = 0;
  await deps.store.changeAlerts(
    due.map((a) => a.fingerprint),
    (existing) =>
      [...existing.values()]
        .filter((a) => a.state === 'firing')
        .flatMap((alert) => {
          const outbox: OutboxInput[] = [];
          let record: AlertRecord = alert;
          if (reminderDue(alert, now, deps)) {
            for (const channel of alertChannels(alert, deps.routing)) {
              outbox.push({ target: 'slack', orderKey: `slack:${channel}:${alert.fingerprint}`, payload: { kind: 'slack_alert_reminder', fingerprint: alert.fingerprint, channel } });
            }
            record = { ...record, lastReminderAt: now.toISOString() };
          }
          if (escalationDue(alert, now, deps)) {
            outbox.push({ target: 'slack', orderKey: `slack:${deps.stakeholdersChannel}:${alert.fingerprint}:escalation`, payload: { kind: 'slack_escalation', fingerprint: alert.fingerprint, channel: deps.stakeholdersChannel } });
            // An open incident's thread receives every escalation too (DESIGN.md §8).
            if (incident) {
              outbox.push({
                target: 'slack',
                orderKey: `incident:${incident.id}`,
                payload: { kind: 'slack_incident_note', incidentId: incident.id, channel: incident.channel, text: `📣 Escalated: the critical alert *${escapeInline(alert.alert)}* has fired since ${alert.firingSince} without acknowledgement.` },
              });
            }
            record = { ...record, escalatedAt: now.toISOString() };
          }
          queued += outbox.length;
          return outbox.length ? [{ record, outbox }] : [];
        }),
  );
  if (queued > 0) deps.kick?.();
  return queued;
}

function reminderDue(alert: AlertRecord, now: Date, deps: EscalationDeps): boolean {
  const since = Date.parse(alert.lastReminderAt ?? alert.firingSince);
  return alert.state === 'firing' && now.getTime() - since >= deps.repeatMs;
}

function escalationDue(alert: AlertRecord, now: Date, deps: EscalationDeps): boolean {
  return alert.state === 'firing' && alert.severity === 'critical' && !alert.escalatedAt && now.getTime() - Date.parse(alert.firingSince) >= deps.escalateAfterMs;
}
