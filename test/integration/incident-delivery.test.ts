import { WebClient } from '@slack/web-api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OutboxMessage } from '../../src/domain/alert.ts';
import type { StateStore } from '../../src/ports/state-store.ts';
import { declareIncident } from '../../src/procedures/incidents.ts';
import { slackAlertDeliverer } from '../../src/slack/alert-delivery.ts';
import { startSlackFake, type SlackFake } from '../fakes/slack-api.ts';
import { captureLogs } from '../helpers/logs.ts';
import { useTempStateStore } from '../helpers/temp-store.ts';

const CHANNEL = 'C0STAKEHOLD';

describe('an incident’s parent message in the stakeholder channel', () => {
  const temp = useTempStateStore('dr-incident-delivery');
  let store: StateStore;
  let slack: SlackFake;
  let client: WebClient;

  beforeEach(async () => {
    store = temp.store;
    slack = await startSlackFake();
    client = new WebClient('xoxb-test', { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } });
  });
  afterEach(async () => {
    await slack?.close();
  });

  // Declares an incident, and delivers its queued messages (parent, first note) as a deliverer would.
  const declareAndDeliver = async (claim: () => Promise<OutboxMessage[]>) => {
    const incident = await declareIncident({ store, stakeholdersChannel: CHANNEL, contacts: {}, objectives: { rtoMs: 4 * 3_600_000, rpoMs: 3_600_000 }, now: () => new Date() }, { title: 'Database down', kind: 'operational', actor: 'U0ONCALL' });
    const deliverer = slackAlertDeliverer({ client, store, contacts: {}, stakeholdersChannel: CHANNEL, logger: captureLogs('silent').logger, minIntervalMs: 0 });
    // One message per order key is leased at a time: the parent first, then the note.
    for (let round = 0; round < 2; round += 1) {
      const messages = await claim();
      await deliverer.deliver(messages, async (outcome) => {
        const message = messages.find((m) => m.id === outcome.id)!;
        await store.settleOutbox(outcome.id, outcome.delivered ? { status: 'delivered', attempts: message.attempts + 1, deliveredAt: new Date().toISOString() } : { status: 'pending', attempts: message.attempts + 1, lastError: outcome.error ?? '' }, 'bot.2');
      });
    }
    return incident;
  };
  const parentPosts = () => slack.callsTo('chat.postMessage').filter((c) => (c.body.metadata as { event_type?: string } | undefined)?.event_type === 'dr_incident');

  it('is posted once with metadata naming the incident, and the thread follows it', async () => {
    const lease = () => store.claimOutbox('slack', new Date().toISOString(), { owner: 'bot.2', leaseUntil: new Date(Date.now() + 60_000).toISOString(), limit: 10 });
    const incident = await declareAndDeliver(lease);
    expect(parentPosts()).toHaveLength(1);
    expect(parentPosts()[0]!.body.metadata).toEqual({ event_type: 'dr_incident', event_payload: { incident_id: incident.id } });
    const thread = await store.incidentThread(incident.id);
    expect(thread).toBeTruthy();
    expect(slack.callsTo('chat.postMessage').filter((c) => c.body.thread_ts === thread)).toHaveLength(1);
  });

  it('is found again, not posted twice, when the deliverer died after posting it and before keeping its ts', async () => {
    // The first deliverer (bot.1) leased the parent, posted it, and was killed before storing the ts.
    let leases = 0;
    const lease = async () => {
      leases += 1;
      if (leases === 1) {
        const leased = await store.claimOutbox('slack', new Date().toISOString(), { owner: 'bot.1', leaseUntil: new Date(Date.now() + 60_000).toISOString(), limit: 10 });
        const parent = leased.find((m) => m.payload.kind === 'slack_incident')!;
        const incidentId = (parent.payload as { incidentId: string }).incidentId;
        await client.chat.postMessage({ channel: CHANNEL, text: 'Incident (posted before the crash)', metadata: { event_type: 'dr_incident', event_payload: { incident_id: incidentId } } });
      }
      return store.claimOutbox('slack', new Date().toISOString(), { owner: 'bot.2', leaseUntil: new Date(Date.now() + 60_000).toISOString(), limit: 10, ownerAlive: (owner) => owner !== 'bot.1' });
    };
    const incident = await declareAndDeliver(lease);
    expect(parentPosts()).toHaveLength(1);
    const earlier = parentPosts()[0]!;
    const thread = await store.incidentThread(incident.id);
    expect(slack.callsTo('chat.update').map((c) => c.body.ts)).toEqual([thread]);
    expect(slack.callsTo('chat.postMessage').filter((c) => c.body.thread_ts === thread)).toHaveLength(1);
    expect(earlier.body.text).toBe('Incident (posted before the crash)');
  });
});
