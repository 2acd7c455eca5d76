// The outbox health watch over a real SQLite state store, with its clock moved: a new alert waiting over a
// minute makes a notice that jumps the queue, said once per window, and a "caught up" once it clears.
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { OUTBOX_BACKLOG_MS, startOutboxHealth } from '../../../src/alerts/outbox-health.ts';
import { OUTBOX_PRIORITY } from '../../../src/domain/alert.ts';
import { useTempStateStore } from '../../helpers/temp-store.ts';

const logger = pino({ level: 'silent' });

describe('startOutboxHealth', () => {
  const temp = useTempStateStore('dr-outbox-health');

  it('says so in the critical channel, ahead of the backlog, when a new alert has waited over a minute, and again when it clears', async () => {
    const { store } = temp;
    await store.enqueue(Array.from({ length: 5 }, (_, i) => ({ target: 'slack' as const, orderKey: `slack:#c:u${i}`, payload: { kind: 'slack_alert' as const, fingerprint: `u${i}`, channel: '#c' }, priority: OUTBOX_PRIORITY.update })));
    await store.enqueue([{ target: 'pagerduty', orderKey: 'pagerduty:p1', payload: { kind: 'pagerduty', fingerprint: 'p1', action: 'trigger' }, priority: OUTBOX_PRIORITY.trigger }]);
    let clock = Date.now();
    const kicks: number[] = [];
    const watch = startOutboxHealth({ store, channel: '#dr-critical', logger, now: () => new Date(clock), kick: () => kicks.push(clock), checkMs: 3_600_000 });
    try {
      await watch.check();
      expect((await store.listOutbox()).filter((m) => m.payload.kind === 'slack_notice')).toEqual([]);

      clock += OUTBOX_BACKLOG_MS + 5_000;
      await watch.check();
      await watch.check();
      const notices = (await store.listOutbox()).filter((m) => m.payload.kind === 'slack_notice');
      expect(notices).toHaveLength(1);
      expect(notices[0]).toMatchObject({ priority: OUTBOX_PRIORITY.notice, payload: { channel: '#dr-critical' } });
      expect((notices[0]!.payload as { text: string }).text).toMatch(/a new alert has waited 1 min to reach pagerduty \(6 pending\)/);
      expect(kicks).toHaveLength(1);
      // The notice is the first thing Slack is given, before the five older changes.
      const [first] = await store.claimOutbox('slack', new Date(clock).toISOString(), { owner: 'w', leaseUntil: new Date(clock + 60_000).toISOString(), limit: 1 });
      expect(first?.payload.kind).toBe('slack_notice');
      await store.settleOutbox(first!.id, { status: 'delivered', attempts: 1, deliveredAt: new Date(clock).toISOString() }, 'w');

      // The page goes out: delivery has caught up, and the channel hears that too.
      const [page] = await store.claimOutbox('pagerduty', new Date(clock).toISOString(), { owner: 'w', leaseUntil: new Date(clock + 60_000).toISOString(), limit: 1 });
      await store.settleOutbox(page!.id, { status: 'delivered', attempts: 1, deliveredAt: new Date(clock).toISOString() }, 'w');
      await watch.check();
      const texts = (await store.listOutbox()).filter((m) => m.payload.kind === 'slack_notice').map((m) => (m.payload as { text: string }).text);
      expect(texts).toHaveLength(2);
      expect(texts[1]).toMatch(/^✅ Alert delivery caught up/);
    } finally {
      await watch.stop();
    }
  });
});
