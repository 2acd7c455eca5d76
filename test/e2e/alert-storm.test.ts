// Alert storms against the bot as its own process: a real Alertmanager sending a 3,000-alert group, a new
// critical alert right behind it, a trigger that resolves before it could be sent, and a kill -9 mid-storm.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openStateStore } from '../../src/adapters/state/kysely-store.ts';
import { alertFingerprint } from '../../src/alerts/ingest.ts';
import { groupDedupKey } from '../../src/domain/alert.ts';
import type { StateStore } from '../../src/ports/state-store.ts';
import { startPagerDutyFake, type PagerDutyFake, type PagerDutyFakeEvent } from '../fakes/pagerduty-fake.ts';
import { startSlackFake, type SlackFake } from '../fakes/slack-api.ts';
import { alertmanagerAvailable, startAlertmanager } from '../helpers/alertmanager.ts';
import { postAlerts, shownInChannel, stormAlert, stormGroupKey, stormWebhook } from '../helpers/alert-storm.ts';
import { startBotProcess, type BotProcess } from '../helpers/bot-process.ts';
import { TEST_ROUTING_KEY } from '../helpers/bot.ts';

const hasAlertmanager = alertmanagerAvailable();
const TOKEN = 'storm-token';
const STORM = 3_000;
const PAGE_WITHIN_MS = 5_000;

const newCritical = (name: string, status: 'firing' | 'resolved' = 'firing') => JSON.stringify({ alert: name, severity: 'critical', status, summary: `${name} is ${status}` });
const triggerOf = (e: PagerDutyFakeEvent) => e.status === 202 && e.body.event_action === 'trigger';
const details = (e: PagerDutyFakeEvent) => (e.body.payload as { custom_details?: Record<string, unknown> }).custom_details ?? {};

describe('an alert storm', () => {
  let dir: string;
  let slack: SlackFake;
  let pagerduty: PagerDutyFake;
  let bot: BotProcess | undefined;
  let store: StateStore | undefined;
  const env = () => ({ SLACK_API_URL: slack.apiUrl, DR_STATE: path.join(dir, 'state.db'), DR_ALERT_TOKEN: TOKEN, PAGERDUTY_ROUTING_KEY: TEST_ROUTING_KEY, ...pagerduty.env });
  const drained = async () => expect.poll(async () => (await store!.listOutbox({ status: 'pending' })).length, { timeout: 90_000, interval: 500 }).toBe(0);

  beforeAll(async () => {
    slack = await startSlackFake();
    pagerduty = await startPagerDutyFake();
  });
  afterAll(async () => {
    await pagerduty?.close();
    await slack?.close();
  });
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dr-storm-'));
    slack.reset();
    pagerduty.reset();
    bot = await startBotProcess(env(), dir);
    store = await openStateStore(path.join(dir, 'state.db'));
  });
  afterEach(async () => {
    await store?.close();
    await bot?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it.skipIf(!hasAlertmanager)(
    'pages a new critical within 5 s of a 3,000-alert Alertmanager storm, which is one PagerDuty incident, one Slack digest, and resolves once all of it has',
    async () => {
      const alertmanager = await startAlertmanager({ webhookUrl: `${bot!.url}/alerts/alertmanager`, token: TOKEN });
      try {
        const storm = Array.from({ length: STORM }, (_, i) => stormAlert('am', i) as { labels: Record<string, string>; annotations: Record<string, string> });
        const startsAt = new Date(Date.now() - 60_000).toISOString();
        await alertmanager.postAlerts(storm.map(({ labels, annotations }) => ({ labels, annotations, startsAt })));
        // The storm is in once the bot has paged its group; a new critical comes right behind it.
        const stormPage = await pagerduty.waitFor((e) => triggerOf(e) && details(e).group === stormGroupKey('am'), 60_000);
        const posted = await postAlerts(bot!.url, TOKEN, '/alerts', newCritical('db_connection_failure'));
        expect(posted.status).toBe(202);
        const page = await pagerduty.waitFor((e) => triggerOf(e) && (e.body.payload as { class?: string }).class === 'db_connection_failure', 30_000);
        expect(page.at - posted.at).toBeLessThanOrEqual(PAGE_WITHIN_MS);

        // One incident for the group, keyed as Alertmanager keys it, listing its alerts. Alertmanager may send the
        // storm in more than one webhook (it notifies at group_wait with what it has): each new part re-triggers
        // the same incident, listing the group as it then is.
        expect(stormPage.body.dedup_key).toBe(groupDedupKey(stormGroupKey('am')));
        const fullPage = await pagerduty.waitFor((e) => triggerOf(e) && details(e).group === stormGroupKey('am') && details(e).num_firing === STORM, 60_000);
        expect(details(fullPage)).toMatchObject({ num_firing: STORM, num_resolved: 0 });
        expect(details(fullPage).firing).toHaveLength(50);
        expect(String(details(fullPage).more)).toContain(`${STORM - 50} more`);
        await drained();
        const stormKeys = new Set(pagerduty.events.filter((e) => triggerOf(e) && details(e).group === stormGroupKey('am')).map((e) => e.body.dedup_key));
        expect(stormKeys).toEqual(new Set([groupDedupKey(stormGroupKey('am'))]));

        // Slack: every storm alert exactly once, in a digest; the new alert in its own message.
        const { shown, digests } = await shownInChannel(slack, store!, '#dr-critical');
        const stormFingerprints = storm.map((_, i) => String(stormAlert('am', i).fingerprint));
        const fingerprints = new Set((await store!.listAlerts({ limit: 100_000 })).filter((a) => a.alert === 'am_disk_full').map((a) => a.fingerprint));
        expect(fingerprints.size).toBe(STORM);
        expect([...fingerprints].map((fp) => shown.get(fp))).toEqual(stormFingerprints.map(() => 1));
        expect(digests).toBeGreaterThanOrEqual(1);
        expect(digests).toBeLessThanOrEqual(2);
        expect(shown.get(alertFingerprint('db_connection_failure', {}))).toBe(1);

        // All but one resolve: the incident stays open. The last one resolves it, once.
        const endsAt = new Date().toISOString();
        await alertmanager.postAlerts(storm.slice(1).map(({ labels, annotations }) => ({ labels, annotations, startsAt, endsAt })));
        await expect.poll(async () => (await store!.listAlerts({ states: ['resolved'], limit: 100_000 })).filter((a) => a.alert === 'am_disk_full').length, { timeout: 60_000, interval: 500 }).toBe(STORM - 1);
        await drained();
        expect(pagerduty.events.filter((e) => e.body.event_action === 'resolve' && e.body.dedup_key === stormPage.body.dedup_key)).toEqual([]);
        await alertmanager.postAlerts([{ labels: storm[0]!.labels, annotations: storm[0]!.annotations, startsAt, endsAt: new Date().toISOString() }]);
        await pagerduty.waitFor((e) => e.status === 202 && e.body.event_action === 'resolve' && e.body.dedup_key === stormPage.body.dedup_key, 60_000);
        await drained();
        expect(pagerduty.events.filter((e) => e.body.event_action === 'resolve' && e.body.dedup_key === stormPage.body.dedup_key)).toHaveLength(1);
        expect(await store!.listOutbox({ status: 'dead' })).toEqual([]);
      } finally {
        await alertmanager.stop();
      }
    },
    240_000,
  );

  it('never sends a trigger that was still queued when its alert resolved, nor its resolve', async () => {
    // PagerDuty pushes back on the first attempt: the trigger waits for its retry, and the alert resolves meanwhile.
    pagerduty.failNext({ status: 429, retryAfter: 3, times: 3 });
    expect((await postAlerts(bot!.url, TOKEN, '/alerts', newCritical('flapping_disk'))).status).toBe(202);
    await pagerduty.waitFor((e) => e.status === 429 && e.body.dedup_key === alertFingerprint('flapping_disk', {}), 20_000);
    expect((await postAlerts(bot!.url, TOKEN, '/alerts', newCritical('flapping_disk', 'resolved'))).status).toBe(202);
    await drained();
    const key = alertFingerprint('flapping_disk', {});
    expect(pagerduty.accepted().filter((e) => e.body.dedup_key === key)).toEqual([]);
    const messages = (await store!.listOutbox({ target: 'pagerduty' })).filter((m) => 'fingerprint' in m.payload && m.payload.fingerprint === key);
    expect(messages.map((m) => [m.payload.kind === 'pagerduty' && m.payload.action, m.status])).toEqual([
      ['trigger', 'dropped'],
      ['resolve', 'dropped'],
    ]);
    expect(messages[0]!.lastError).toContain('resolved before it was paged');
    // The Slack side is the record: the alert was still shown, as resolved.
    await slack.waitFor((c) => c.method === 'chat.postMessage' && String(c.body.text).includes('flapping_disk'));
  }, 60_000);

  it('loses and doubles nothing when the bot is killed mid-storm and restarted', async () => {
    expect((await postAlerts(bot!.url, TOKEN, '/alerts/alertmanager', stormWebhook('crash', STORM))).status).toBe(202);
    // Killed (SIGKILL) as the storm's digest reaches Slack: its answer may or may not have been recorded.
    await slack.waitFor((c) => c.method === 'chat.postMessage' && /^\d+ alerts/.test(String(c.body.text)), 60_000);
    await bot!.kill();
    bot = await startBotProcess(env(), dir);
    const posted = await postAlerts(bot.url, TOKEN, '/alerts', newCritical('db_connection_failure'));
    expect(posted.status).toBe(202);
    const page = await pagerduty.waitFor((e) => triggerOf(e) && (e.body.payload as { class?: string }).class === 'db_connection_failure', 30_000);
    expect(page.at - posted.at).toBeLessThanOrEqual(PAGE_WITHIN_MS);
    await drained();

    expect(await store!.listOutbox({ status: 'dead' })).toEqual([]);
    const { shown } = await shownInChannel(slack, store!, '#dr-critical');
    const storm = (await store!.listAlerts({ limit: 100_000 })).filter((a) => a.alert === 'crash_disk_full');
    expect(storm).toHaveLength(STORM);
    expect(storm.filter((a) => shown.get(a.fingerprint) !== 1).map((a) => [a.fingerprint, shown.get(a.fingerprint) ?? 0])).toEqual([]);
    // One incident for the storm: its trigger at most re-sent once (the one in flight at the kill), never a second key.
    const stormTriggers = pagerduty.events.filter((e) => triggerOf(e) && details(e).group === stormGroupKey('crash'));
    expect(new Set(stormTriggers.map((e) => e.body.dedup_key))).toEqual(new Set([groupDedupKey(stormGroupKey('crash'))]));
    expect(stormTriggers.length).toBeLessThanOrEqual(2);
    expect(pagerduty.events.filter((e) => triggerOf(e) && e.body.dedup_key === alertFingerprint('db_connection_failure', {}))).toHaveLength(1);
  }, 180_000);
});
