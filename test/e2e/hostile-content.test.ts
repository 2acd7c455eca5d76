// Hostile text through every way it can reach Slack (POST /alerts, the Alertmanager webhook, incident declare and
// update, reminders, "firing again", escalation, App Home) shows escaped in every Slack call; Slack's limits and
// refusals (invalid_blocks, not_in_channel) never lose an alert.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { remindAndEscalate } from '../../src/alerts/escalation.ts';
import type { SlackCall } from '../fakes/slack-api.ts';
import { startTestBot, type TestBot } from '../helpers/bot.ts';
import { alertmanagerAvailable, startAlertmanager } from '../helpers/alertmanager.ts';
import { expectNothingLive, HOSTILE, HOSTILE_LINE, shownText } from '../helpers/hostile.ts';
import { openAppHome } from '../helpers/slack-interactions.ts';

const TOKEN = 'hostile-alert-token';
const OPERATOR = 'U0OPERATOR';
// Channels by id, as Slack's conversations.join needs them.
const CHANNELS = { critical: 'C0CRITICAL', warning: 'C0WARNINGS', stakeholders: 'C0STAKEHLD', security: 'C0SECURITY' };
const HOUR = 3_600_000;

describe('hostile content and Slack refusals, through the real bot and the Slack fake', () => {
  let dir: string;
  let t: TestBot;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dr-hostile-'));
    const configPath = path.join(dir, 'dr.yml');
    await writeFile(configPath, stringify({ slack: { channels: CHANNELS, roles: { operators: [OPERATOR] } }, contacts: { management: 'U0CTO' } }));
    t = await startTestBot({ configPath, env: { DR_ALERT_TOKEN: TOKEN } });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const post = (route: string, body: unknown, authorization = `Bearer ${TOKEN}`) =>
    fetch(`${t.bot.url}${route}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', authorization } });
  const delivered = async () => expect.poll(async () => (await t.bot.deps.store.listOutbox({ status: 'pending' })).length, { timeout: 30_000, interval: 200 }).toBe(0);
  const posted = (predicate: (c: SlackCall) => boolean) => t.slack.waitFor((c) => c.method === 'chat.postMessage' && !c.failed && predicate(c), 15_000);
  const tsOf = (call: SlackCall) => (call.response as { ts: string }).ts;

  it('shows every hostile string escaped in every Slack call, on every path, and refuses nothing for its size', async () => {
    // POST /alerts: the name is a strict identifier there; summary and labels are free text (10 KB of mentions too).
    const labels = { note: HOSTILE_LINE, [HOSTILE.channel]: HOSTILE.user, ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`blob${i}`, HOSTILE.tenKb.slice(0, 1_024)])) };
    expect((await post('/alerts', { alert: 'hostile_http', severity: 'critical', status: 'firing', summary: `${HOSTILE_LINE} ${HOSTILE.tenKb}`, labels })).status).toBe(202);
    // The Alertmanager webhook: the name, the summary, the links and truncatedAlerts all come from outside.
    const amAlert = (i: number) => ({
      status: 'firing',
      labels: { alertname: `${HOSTILE_LINE} ${i}`, severity: 'critical', instance: HOSTILE.here },
      annotations: { summary: `${HOSTILE.link} ${HOSTILE.tenKb}`, runbook_url: 'https://wiki.example/runbooks/db-down' },
      startsAt: new Date().toISOString(),
      generatorURL: 'https://prometheus.example/graph?g0.expr=up|<b>',
      fingerprint: `ab${i}`,
    });
    const webhook = (alerts: unknown[], truncated = 0) => ({ version: '4', status: 'firing', receiver: 'dr-bot', groupKey: `{}:{x="${HOSTILE.channel}"}`, externalURL: 'http://alertmanager.example:9093', truncatedAlerts: truncated, alerts });
    expect((await post('/alerts/alertmanager', webhook([amAlert(1)], 7))).status).toBe(202);
    // Delivered before the burst, so these two stay single messages and the burst alone becomes the digest.
    await delivered();
    // A burst becomes a digest: the same strings in one message.
    expect((await post('/alerts/alertmanager', webhook([2, 3, 4, 5, 6].map(amAlert), 2))).status).toBe(202);
    // Incidents: a hostile title, then a hostile update in its thread.
    await t.command(`incident declare ${HOSTILE_LINE}`, { user: OPERATOR });
    const parent = await posted((c) => c.body.channel === CHANNELS.stakeholders && !c.body.thread_ts && String(c.body.text).includes('Incident'));
    await t.command(`incident update ${HOSTILE_LINE}`, { user: OPERATOR });
    await posted((c) => c.body.thread_ts === tsOf(parent) && String(c.body.text).includes('📝'));
    // "Firing again": resolved, then firing once more.
    await post('/alerts', { alert: 'hostile_http', severity: 'critical', status: 'resolved', summary: HOSTILE_LINE, labels });
    await delivered();
    await post('/alerts', { alert: 'hostile_http', severity: 'critical', status: 'firing', summary: HOSTILE_LINE, labels });
    await posted((c) => String(c.body.text).startsWith('🔁 Firing again'));
    // Reminders and escalation, as the bot's own pass makes them two days from now.
    await remindAndEscalate({ store: t.bot.deps.store, routing: t.bot.deps.alertIntake.routing, stakeholdersChannel: CHANNELS.stakeholders, repeatMs: 4 * HOUR, escalateAfterMs: HOUR / 2, now: () => new Date(Date.now() + 48 * HOUR), kick: t.bot.outbox.kick });
    await posted((c) => String(c.body.text).startsWith('⏰ Still firing'));
    await posted((c) => c.body.channel === CHANNELS.stakeholders && String(c.body.text).startsWith('📣'));
    // App Home lists the alerts and the incident.
    await openAppHome(t.bot.url, OPERATOR);
    const home = await t.slack.waitFor((c) => c.method === 'views.publish', 15_000);
    await delivered();

    expectNothingLive(t.slack.calls);
    // And the strings did arrive, escaped, on each path (so the check above had something to check).
    const escaped = (call: SlackCall) => shownText(call).includes('&lt;!channel&gt;') && shownText(call).includes('&lt;@U123&gt;');
    const kinds: Array<[string, (c: SlackCall) => boolean]> = [
      ['the POST /alerts message', (c) => c.method === 'chat.postMessage' && String(c.body.text).includes('hostile_http') && !c.body.thread_ts],
      ['the Alertmanager message', (c) => c.method === 'chat.postMessage' && String(c.body.text).includes('&lt;!here|x&gt;') && String(c.body.text).includes(' 1 (critical)')],
      ['the digest', (c) => c.method === 'chat.postMessage' && /^5 alerts/.test(String(c.body.text))],
      ['the incident parent', (c) => c === parent],
      ['the incident update', (c) => c.body.thread_ts === tsOf(parent) && String(c.body.text).includes('📝')],
      ['"firing again"', (c) => String(c.body.text).startsWith('🔁 Firing again')],
      ['the reminder', (c) => String(c.body.text).startsWith('⏰ Still firing')],
      ['the escalation', (c) => c.body.channel === CHANNELS.stakeholders && String(c.body.text).startsWith('📣')],
      ['App Home', (c) => c === home],
    ];
    for (const [name, match] of kinds) {
      const calls = t.slack.calls.filter((c) => !c.failed && match(c));
      expect(calls.length, name).toBeGreaterThan(0);
      if (name !== 'the digest' && name !== 'the escalation' && name !== 'the reminder') expect(calls.some(escaped), `${name} shows the strings escaped`).toBe(true);
      else expect(calls.some((c) => shownText(c).includes('&lt;!channel&gt;')), `${name} shows the strings escaped`).toBe(true);
    }

    // Alertmanager's details: the runbook and Alertmanager links live, the generatorURL with `|` shown as text only.
    const am = t.slack.calls.find((c) => c.method === 'chat.postMessage' && String(c.body.text).includes(' 1 (critical)'))!;
    const details = shownText(am);
    expect(details).toContain('<https://wiki.example/runbooks/db-down|runbook>');
    expect(details).toContain('<http://alertmanager.example:9093/|Alertmanager>');
    expect(details).toContain('source: https://prometheus.example/graph?g0.expr=up|&lt;b&gt;');
    expect(details).not.toContain('<https://prometheus.example');
    expect(details).toContain('7 more alerts were cut by Alertmanager');
    expect(shownText(t.slack.calls.find((c) => c.method === 'chat.postMessage' && /^5 alerts/.test(String(c.body.text)))!)).toContain('2 more alerts were cut by Alertmanager');
    expect(t.logs.some((l) => l.msg === 'Alertmanager cut alerts from a webhook (max_alerts)' && l.truncatedAlerts === 7)).toBe(true);

    // The oversized alert was posted shortened, and the full text of what was cut follows in its thread.
    const big = t.slack.calls.find((c) => c.method === 'chat.postMessage' && String(c.body.text).includes('hostile_http') && !c.body.thread_ts)!;
    expect(shownText(big)).toContain('…(cut)');
    const rest = t.slack.calls.filter((c) => c.method === 'chat.postMessage' && c.body.thread_ts === tsOf(big) && String(c.body.text).includes('did not fit'));
    expect(rest.length).toBeGreaterThan(0);
    const full = rest.map((c) => String(c.body.text)).join('');
    for (let i = 0; i < 10; i += 1) expect(full).toContain(`blob${i}=`);
    expect(await t.bot.deps.store.listOutbox({ status: 'dead' })).toEqual([]);
  }, 120_000);

  it('logs rejected webhooks at warn with the reason, never the body', async () => {
    const secret = `${HOSTILE.channel}-do-not-log-me`;
    expect((await post('/alerts', { alert: 'x', severity: 'critical', status: 'firing', summary: secret }, 'Bearer wrong')).status).toBe(401);
    expect((await post('/alerts/alertmanager', { version: '3', note: secret })).status).toBe(400);
    expect((await post('/alerts', `{${secret}`)).status).toBe(400);
    const rejections = t.logs.filter((l) => l.msg === 'alert webhook rejected');
    expect(rejections.map((l) => [l.level, l.status, l.route])).toEqual([
      [40, 401, '/alerts'],
      [40, 400, '/alerts/alertmanager'],
      [40, 400, '/alerts'],
    ]);
    expect(rejections[1]!.reason).toMatch(/^version:/);
    expect(JSON.stringify(t.logs)).not.toContain('do-not-log-me');
  });

  it('sends a message Slack refuses for its blocks once more as text only', async () => {
    t.slack.failNext('chat.postMessage', { error: 'invalid_blocks' });
    expect((await post('/alerts', { alert: 'refused_blocks', severity: 'critical', status: 'firing', summary: HOSTILE_LINE })).status).toBe(202);
    const refused = await t.slack.waitFor((c) => c.method === 'chat.postMessage' && c.failed === true && c.injected === true);
    expect(refused.body.blocks).toBeDefined();
    const again = await posted((c) => c.body.channel === CHANNELS.critical && String(c.body.text).includes('refused_blocks'));
    expect(again.body.blocks).toBeUndefined();
    expect(String(again.body.text)).toContain('&lt;!channel&gt;');
    expect(t.logs.some((l) => l.msg === 'Slack refused a message; sending it once more as text only' && l.level === 50)).toBe(true);
    await delivered();
    expect(await t.bot.deps.store.listOutbox({ status: 'dead' })).toEqual([]);
  });

  it('joins a public channel it is not in and posts there; for one it cannot join, the critical channel says which and why', async () => {
    t.slack.setChannel(CHANNELS.warning, { member: false });
    t.slack.setChannel(CHANNELS.security, { member: false, private: true });
    // A warning goes to the warning channel; a security one to the security channel too.
    expect((await post('/alerts', { alert: 'failed_login_spike', severity: 'warning', status: 'firing', summary: 'many failed logins' })).status).toBe(202);
    const join = await t.slack.waitFor((c) => c.method === 'conversations.join' && c.body.channel === CHANNELS.warning && !c.failed, 15_000);
    const inWarning = await posted((c) => c.body.channel === CHANNELS.warning && String(c.body.text).includes('failed_login_spike'));
    expect(inWarning.at).toBeGreaterThanOrEqual(join.at);
    // The private security channel cannot be joined: the critical channel gets the alert and the reason.
    await t.slack.waitFor((c) => c.method === 'conversations.join' && c.body.channel === CHANNELS.security && c.failed === true, 15_000);
    const notice = await posted((c) => c.body.channel === CHANNELS.critical && String(c.body.text).includes('could not post in'));
    expect(String(notice.body.text)).toContain(`<#${CHANNELS.security}>`);
    expect(String(notice.body.text)).toContain('not_in_channel');
    expect(String(notice.body.text)).toContain('failed_login_spike');
    // Given up on after its attempts: dead, said at error level, and the critical channel was told once only.
    await expect.poll(async () => (await t.bot.deps.store.listOutbox({ status: 'dead' })).length, { timeout: 30_000, interval: 200 }).toBe(1);
    expect(t.logs.some((l) => l.level === 50 && l.msg === 'notification given up after permanent failures')).toBe(true);
    expect(t.slack.calls.filter((c) => c.method === 'chat.postMessage' && !c.failed && String(c.body.text).includes('could not post in'))).toHaveLength(1);
  }, 60_000);
});

describe.skipIf(!alertmanagerAvailable())('a real Alertmanager that cuts its webhook (max_alerts)', () => {
  it('shows how many alerts it cut, its links, and the hostile strings escaped', async () => {
    const t = await startTestBot({ env: { DR_ALERT_TOKEN: TOKEN } });
    const alertmanager = await startAlertmanager({ webhookUrl: `${t.bot.url}/alerts/alertmanager`, token: TOKEN, maxAlerts: 2 });
    try {
      await alertmanager.postAlerts(
        Array.from({ length: 5 }, (_, i) => ({
          labels: { alertname: 'disk_full', severity: 'warning', instance: `node-${i}`, note: HOSTILE.user },
          annotations: { summary: `${HOSTILE_LINE} on node-${i}`, runbook_url: 'https://wiki.example/runbooks/disk-full' },
          generatorURL: 'https://prometheus.example/graph?g0.expr=disk',
        })),
      );
      const shown = await t.slack.waitFor((c) => c.method === 'chat.postMessage' && !c.failed && shownText(c).includes('were cut by Alertmanager'), 30_000);
      expect(shownText(shown)).toContain('3 more alerts were cut by Alertmanager');
      expect(shownText(shown)).toContain('<https://wiki.example/runbooks/disk-full|runbook>');
      expect(shownText(shown)).toContain('<https://prometheus.example/graph?g0.expr=disk|source>');
      expect(shownText(shown)).toMatch(/<http:\/\/[^|>]+\|Alertmanager>/);
      expect(t.logs.some((l) => l.msg === 'Alertmanager cut alerts from a webhook (max_alerts)' && l.truncatedAlerts === 3 && l.received === 2)).toBe(true);
      expectNothingLive(t.slack.calls);
    } finally {
      await alertmanager.stop();
      await t.close();
    }
  }, 60_000);
});
