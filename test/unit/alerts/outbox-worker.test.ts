// The outbox worker over a real SQLite state store, with recording deliverers in place of Slack and PagerDuty:
// priorities, a turn for every order key, one storm claimed as one batch, and targets that never wait for each other.
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { startOutboxWorker, type DeliveryOutcome, type OutboxDeliverer } from '../../../src/alerts/outbox-worker.ts';
import { OUTBOX_PRIORITY, type OutboxInput, type OutboxMessage, type OutboxPriority } from '../../../src/domain/alert.ts';
import { useTempStateStore } from '../../helpers/temp-store.ts';

const logger = pino({ level: 'silent' });

const slackMessage = (fingerprint: string, priority: OutboxPriority, orderKey = `slack:#c:${fingerprint}`): OutboxInput => ({
  target: 'slack',
  orderKey,
  payload: { kind: 'slack_alert', fingerprint, channel: '#c' },
  priority,
});

/** A deliverer that records each batch it is given, takes `delayMs` per batch, and delivers everything. */
function recordingDeliverer(delayMs = 0): OutboxDeliverer & { batches: OutboxMessage[][]; deliveredAt: Map<number, number> } {
  const batches: OutboxMessage[][] = [];
  const deliveredAt = new Map<number, number>();
  return {
    batches,
    deliveredAt,
    async deliver(messages, report: (outcome: DeliveryOutcome) => Promise<void>) {
      batches.push([...messages]);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      await Promise.all(messages.map((m) => (deliveredAt.set(m.id, Date.now()), report({ id: m.id, delivered: true }))));
    },
  };
}

const fingerprintOf = (m: OutboxMessage) => ('fingerprint' in m.payload ? m.payload.fingerprint : '');

describe('startOutboxWorker', () => {
  const temp = useTempStateStore('dr-outbox-worker');

  it('delivers new alerts before changes and a storm, gives every order key a turn, and claims a storm as one batch', async () => {
    const { store } = temp;
    await store.enqueue(Array.from({ length: 300 }, (_, i) => slackMessage(`storm${i}`, OUTBOX_PRIORITY.digest)));
    // One alert with many queued changes, and ten others with one each.
    await store.enqueue(Array.from({ length: 20 }, () => slackMessage('busy', OUTBOX_PRIORITY.update)));
    await store.enqueue(Array.from({ length: 10 }, (_, i) => slackMessage(`calm${i}`, OUTBOX_PRIORITY.update)));
    await store.enqueue([slackMessage('new', OUTBOX_PRIORITY.trigger)]);
    const slack = recordingDeliverer();
    const worker = startOutboxWorker({ store, owner: 'test', logger, deliverers: { slack }, batchSize: 10 });
    try {
      await worker.drain();
    } finally {
      await worker.stop();
    }
    const [first, second] = slack.batches;
    // The newest message, a new alert, goes first; then one change per key, the busy one not hogging the batch.
    expect(first!.map(fingerprintOf)).toEqual(['new', 'busy', 'calm0', 'calm1', 'calm2', 'calm3', 'calm4', 'calm5', 'calm6', 'calm7']);
    // Then the last changes, and once the digest messages are reached, the whole storm with them: one digest.
    expect(second!.slice(0, 3).map(fingerprintOf)).toEqual(['busy', 'calm8', 'calm9']);
    expect(second!.slice(3).map(fingerprintOf)).toEqual(Array.from({ length: 300 }, (_, i) => `storm${i}`));
    expect(slack.batches.filter((batch) => batch.some((m) => fingerprintOf(m).startsWith('storm')))).toHaveLength(1);
    // The busy alert's remaining changes each get their turn afterwards, in order.
    expect(slack.batches.slice(2).map((batch) => batch.map(fingerprintOf))).toEqual(Array.from({ length: 18 }, () => ['busy']));
    expect(await store.listOutbox({ status: 'pending' })).toEqual([]);
    expect((await store.listOutbox({ status: 'delivered' })).length).toBe(331);
  });

  it('pages while Slack is busy: each target is delivered on its own', async () => {
    const { store } = temp;
    await store.enqueue(Array.from({ length: 30 }, (_, i) => slackMessage(`slow${i}`, OUTBOX_PRIORITY.update)));
    const slack = recordingDeliverer(1_000);
    const pagerduty = recordingDeliverer();
    const worker = startOutboxWorker({ store, owner: 'test', logger, deliverers: { slack, pagerduty }, batchSize: 10 });
    try {
      worker.kick();
      await new Promise((resolve) => setTimeout(resolve, 100));
      // Slack is inside its first one-second batch; a page queued now goes out at once.
      const queuedAt = Date.now();
      await store.enqueue([{ target: 'pagerduty', orderKey: 'pagerduty:p1', payload: { kind: 'pagerduty', fingerprint: 'p1', action: 'trigger' }, priority: OUTBOX_PRIORITY.trigger }]);
      worker.kick();
      await expect.poll(() => pagerduty.deliveredAt.size, { timeout: 2_000, interval: 10 }).toBe(1);
      expect([...pagerduty.deliveredAt.values()][0]! - queuedAt).toBeLessThan(500);
      expect(slack.batches.length).toBeLessThan(3);
      await worker.drain();
    } finally {
      await worker.stop();
    }
  });
});
