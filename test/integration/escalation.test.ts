import { WebClient } from '@slack/web-api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { remindAndEscalate, type EscalationDeps } from '../../src/alerts/escalation.ts';
import { acknowledgeAlert, takeInSignals, type AlertIntakeDeps } from '../../src/alerts/ingest-signals.ts';
import { startOutboxWorker } from '../../src/alerts/outbox-worker.ts';
import type { StateStore } from '../../src/ports/state-store.ts';
import { slackAlertDeliverer } from '../../src/slack/alert-delivery.ts';
import { startSlackFake, type SlackFake } from '../fakes/slack-api.ts';
import { captureLogs } from '../helpers/logs.ts';
import { useTempStateStore } from '../helpers/temp-store.ts';
import { declareIncident } from '../../src/procedures/incidents.ts';

const MINUTE = 60_000;
const routing = { channels: { critical: '#dr-critical', warning: '#dr-warnings', security: '#security-incidents' }, paging: false, email: false };

describe('reminders and escalation, on a clock the test moves', () => {
  const temp = useTempStateStore('dr-escalation');
  let store: StateStore;
  let slack: SlackFake;
  let clock: number;
  let intake: AlertIntakeDeps;
  let escalation: EscalationDeps;
  const deliver = async () => {
    const worker = startOutboxWorker({
      store,
      owner: 'test',
      logger: captureLogs('silent').logger,
      now: () => new Date(clock),
      pollMs: 3_600_000,
      deliverers: {
        slack: slackAlertDeliverer({ client: new WebClient('xoxb-test', { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } }), store, contacts: { management: 'S0MANAGERS' }, stakeholdersChannel: '#dr-stakeholders', logger: captureLogs('silent').logger, minIntervalMs: 0 }),
      },
    });
    await worker.drain();
    await worker.stop();
  };
  beforeEach(async () => {
    store = temp.store;
    slack = await startSlackFake();
    clock = Date.parse('2026-11-26T03:00:00.000Z');
    intake = { store, routing, now: () => new Date(clock) };
    escalation = { store, routing, stakeholdersChannel: '#dr-stakeholders', repeatMs: 4 * 60 * MINUTE, escalateAfterMs: 30 * MINUTE, now: () => new Date(clock) };
  });
  afterEach(async () => {
    await slack.close();
  });

  it('mentions management in the stakeholder channel at 30 minutes unacknowledged, once, and reminds after alerts.repeat', async () => {
    await takeInSignals(intake, [{ fingerprint: 'fp1', alert: 'db_connection_failure', severity: 'critical', status: 'firing', summary: 'database down', labels: {}, source: 'probe' }]);
    await deliver();
    clock += 29 * MINUTE;
    expect(await remindAndEscalate(escalation)).toBe(0);
    clock += MINUTE;
    expect(await remindAndEscalate(escalation)).toBe(1);
    await deliver();
    const escalated = slack.callsTo('chat.postMessage').filter((c) => c.body.channel === '#dr-stakeholders');
    expect(escalated).toHaveLength(1);
    expect(String(escalated[0]!.body.text)).toContain('<!subteam^S0MANAGERS>');
    expect(String(escalated[0]!.body.text)).toContain('db_connection_failure');
    // Not twice.
    clock += 10 * MINUTE;
    expect(await remindAndEscalate(escalation)).toBe(0);
    // Still firing after alerts.repeat (4 h): a reminder in the alert's thread.
    clock += 4 * 60 * MINUTE;
    expect(await remindAndEscalate(escalation)).toBe(1);
    await deliver();
    const reminder = slack.callsTo('chat.postMessage').find((c) => String(c.body.text).startsWith('⏰'));
    expect(reminder?.body.channel).toBe('#dr-critical');
    expect(reminder?.body.thread_ts).toBe((slack.callsTo('chat.postMessage')[0]!.response as { ts: string }).ts);
  });

  it('stops escalation once someone acknowledges', async () => {
    await takeInSignals(intake, [{ fingerprint: 'fp2', alert: 'api_error_rate', severity: 'critical', status: 'firing', summary: '5xx at 12 %', labels: {}, source: 'probe' }]);
    clock += 10 * MINUTE;
    expect(await acknowledgeAlert(intake, 'fp2', 'U0ONCALL')).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'U0ONCALL' });
    clock += 60 * MINUTE;
    expect(await remindAndEscalate(escalation)).toBe(0);
    await deliver();
    expect(slack.callsTo('chat.postMessage').filter((c) => c.body.channel === '#dr-stakeholders')).toEqual([]);
  });

  it('also escalates into the open incident\'s thread', async () => {
    const incident = await declareIncident({ store, stakeholdersChannel: '#dr-stakeholders', contacts: {}, objectives: { rtoMs: 4 * 3_600_000, rpoMs: 3_600_000 }, now: () => new Date(clock) }, { title: 'Database down', kind: 'operational', actor: 'U0ONCALL' });
    await takeInSignals(intake, [{ fingerprint: 'fp3', alert: 'db_connection_failure', severity: 'critical', status: 'firing', summary: 'database down', labels: {}, source: 'probe' }]);
    clock += 30 * MINUTE;
    expect(await remindAndEscalate(escalation)).toBe(2);
    await deliver();
    const parent = slack.callsTo('chat.postMessage').find((c) => String(c.body.text).includes(incident.id))!;
    const inThread = slack.callsTo('chat.postMessage').filter((c) => c.body.thread_ts === (parent.response as { ts: string }).ts && String(c.body.text).includes('Escalated'));
    expect(inThread).toHaveLength(1);
  });
});
