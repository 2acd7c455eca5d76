import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStateStore } from '../../src/adapters/state/kysely-store.ts';
import { startPagerDutyFake, type PagerDutyFake } from '../fakes/pagerduty-fake.ts';
import { startSlackFake, type SlackFake } from '../fakes/slack-api.ts';
import { startBotProcess, type BotProcess } from '../helpers/bot-process.ts';

const TOKEN = 'burst-token';
const BURST = 300;

describe('the bot killed in the middle of an alert burst, then restarted', () => {
  let dir: string;
  let slack: SlackFake;
  let pagerduty: PagerDutyFake;
  let bot: BotProcess | undefined;
  const env = () => ({ SLACK_API_URL: slack.apiUrl, DR_STATE: path.join(dir, 'state.db'), DR_ALERT_TOKEN: TOKEN, PAGERDUTY_ROUTING_KEY: 'R0UTINGKEY0000000000000000000000', ...pagerduty.env });
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dr-burst-'));
    slack = await startSlackFake();
    pagerduty = await startPagerDutyFake();
  });
  afterAll(async () => {
    await bot?.stop();
    await pagerduty?.close();
    await slack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('loses nothing and shows every alert once in Slack, with one PagerDuty alert per dedup_key', async () => {
    bot = await startBotProcess(env(), dir);
    const names = Array.from({ length: BURST }, (_, i) => `burst_${String(i).padStart(3, '0')}`);
    const accepted = new Set<string>();
    const send = async (url: string, name: string) => {
      const response = await fetch(`${url}/alerts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ alert: name, severity: 'critical', status: 'firing', summary: `${name} fired` }),
      }).catch(() => undefined);
      if (response?.status === 202) accepted.add(name);
    };
    // Ten senders at once; the bot is killed (SIGKILL, no shutdown) half-way through.
    const first = bot.url;
    let next = 0;
    const sender = async () => {
      while (next < BURST) {
        const name = names[next++]!;
        await send(first, name);
        if (next === BURST / 2) void bot!.kill();
      }
    };
    await Promise.all(Array.from({ length: 10 }, sender));
    await bot.kill();
    expect(accepted.size).toBeGreaterThan(0);
    expect(accepted.size).toBeLessThan(BURST);

    // Restarted on the same state; the senders retry what was not accepted, as Alertmanager does.
    bot = await startBotProcess(env(), dir);
    for (const name of names.filter((n) => !accepted.has(n))) await send(bot.url, name);
    expect(accepted.size).toBe(BURST);

    const store = await openStateStore(path.join(dir, 'state.db'));
    try {
      await expect.poll(async () => (await store.listOutbox({ status: 'pending' })).length, { timeout: 90_000, interval: 500 }).toBe(0);
      expect(await store.listOutbox({ status: 'dead' })).toEqual([]);
      // Every alert exactly once in #dr-critical: in its own message or in one digest.
      const shown: string[] = [];
      for (const call of slack.calls.filter((c) => c.method === 'chat.postMessage' && !c.failed && c.body.channel === '#dr-critical')) {
        const ts = (call.response as { ts: string }).ts;
        const digest = await store.getDigest('#dr-critical', ts);
        if (digest) shown.push(...(await store.getAlerts(digest)).map((a) => a.alert));
        else if (/burst_\d+/.test(String(call.body.text))) shown.push(/(burst_\d+)/.exec(String(call.body.text))![1]!);
      }
      expect(shown.filter((n) => n.startsWith('burst_')).sort()).toEqual([...names].sort());
      // One PagerDuty alert per alert: every dedup_key triggered, and at most the one event in flight at
      // the kill sent twice (PagerDuty merges a repeated trigger with the same dedup_key).
      const triggers = pagerduty.events.filter((e) => e.body.event_action === 'trigger' && String((e.body.payload as { class?: string }).class).startsWith('burst_'));
      const keys = new Set(triggers.map((e) => e.body.dedup_key));
      expect(keys.size).toBe(BURST);
      expect(triggers.length).toBeLessThanOrEqual(BURST + 1);
    } finally {
      await store.close();
    }
  }, 180_000);
});
