import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBot, type TestBot } from '../helpers/bot.ts';

const TOKEN = 'alert-token-123';
const SLACK_OUTAGE_MS = 120_000;

/** POSTs a body to one of the alert routes with the bearer token (or another Authorization). */
function post(t: TestBot, route: string, body: string, authorization = `Bearer ${TOKEN}`) {
  return fetch(`${t.bot.url}${route}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) } });
}

const alert = (name: string, status: 'firing' | 'resolved', severity: 'critical' | 'warning' = 'critical', labels: Record<string, string> = {}) =>
  JSON.stringify({ alert: name, severity, status, summary: `${name} is ${status}`, labels });

describe('POST /alerts and the Slack side of routing', () => {
  let t: TestBot;
  beforeAll(async () => {
    t = await startTestBot({ env: { DR_ALERT_TOKEN: TOKEN } });
  });
  afterAll(async () => t?.close());

  it('needs the bearer token, refuses garbage with the reason, and records nothing for either', async () => {
    expect((await post(t, '/alerts', alert('disk_full', 'firing'), '')).status).toBe(401);
    expect((await post(t, '/alerts', alert('disk_full', 'firing'), 'Bearer wrong')).status).toBe(401);
    const notJson = await post(t, '/alerts', '{nope');
    expect(notJson.status).toBe(400);
    expect((await notJson.json()).error).toContain('not JSON');
    const badName = await post(t, '/alerts', JSON.stringify({ alert: '../etc', severity: 'critical', status: 'firing', summary: 'x' }));
    expect(badName.status).toBe(400);
    expect((await badName.json()).error).toMatch(/^alert:/);
    const huge = await post(t, '/alerts', JSON.stringify({ alert: 'big', severity: 'critical', status: 'firing', summary: 'x'.repeat(2 * 1024 * 1024) }));
    expect(huge.status).toBe(413);
    expect(await t.bot.deps.store.listAlerts()).toEqual([]);
  });

  it('posts a critical alert once in the critical channel, dedupes repeats, and updates the same message on resolve', async () => {
    const accepted = await post(t, '/alerts', alert('db_connection_failure', 'firing', 'critical', { component: 'database' }));
    expect(accepted.status).toBe(202);
    const posted = await t.slack.waitFor((c) => c.method === 'chat.postMessage' && String(c.body.text).includes('db_connection_failure'));
    expect(posted.body.channel).toBe('#dr-critical');
    expect(JSON.stringify(posted.body.blocks)).toContain('alert_acknowledge');
    await post(t, '/alerts', alert('db_connection_failure', 'firing', 'critical', { component: 'database' }));
    await post(t, '/alerts', alert('db_connection_failure', 'resolved', 'critical', { component: 'database' }));
    const resolved = await t.slack.waitFor((c) => c.method === 'chat.update' && c.body.ts === (posted.response as { ts: string }).ts);
    expect(String(resolved.body.text)).toContain('resolved');
    expect(t.slack.calls.filter((c) => c.method === 'chat.postMessage' && String(c.body.text).includes('db_connection_failure'))).toHaveLength(1);
    // A flapping alert fires again: the same message comes back to firing, and a reply broadcast in its thread
    // says so (an edit alone would notify nobody).
    await post(t, '/alerts', alert('db_connection_failure', 'firing', 'critical', { component: 'database' }));
    await t.slack.waitFor((c) => c.method === 'chat.update' && c.body.ts === (posted.response as { ts: string }).ts && String(c.body.text).includes('firing'));
    const refired = await t.slack.waitFor((c) => c.method === 'chat.postMessage' && String(c.body.text).startsWith('🔁 Firing again'));
    // Form-encoded, as Slack receives it: the flag arrives as the text "true".
    expect(refired.body).toMatchObject({ thread_ts: (posted.response as { ts: string }).ts, reply_broadcast: 'true' });
    expect(t.slack.calls.filter((c) => c.method === 'chat.postMessage' && !c.body.thread_ts && String(c.body.text).includes('db_connection_failure'))).toHaveLength(1);
  });

  it('sends warnings to the warning channel and security alerts also to the security channel', async () => {
    await post(t, '/alerts', alert('failed_login_spike', 'firing', 'warning'));
    const channels = new Set<unknown>();
    await t.slack.waitFor((c) => {
      if (c.method === 'chat.postMessage' && String(c.body.text).includes('failed_login_spike')) channels.add(c.body.channel);
      return channels.size === 2;
    });
    expect(channels).toEqual(new Set(['#dr-warnings', '#security-incidents']));
  });

  it('loses nothing while Slack is down for two minutes: every alert arrives once, and later changes edit it in order', async () => {
    const names = Array.from({ length: 10 }, (_, i) => `outage_alert_${i}`);
    t.slack.setDown(true);
    for (const name of names) expect((await post(t, '/alerts', alert(name, 'firing'))).status).toBe(202);
    for (const name of names.slice(0, 5)) expect((await post(t, '/alerts', alert(name, 'resolved'))).status).toBe(202);
    // Two minutes of outage, as the issue asks: long enough for the retries to reach their longest backoff.
    await new Promise((resolve) => setTimeout(resolve, SLACK_OUTAGE_MS));
    expect(t.slack.dropped).toBeGreaterThan(0);
    t.slack.setDown(false);
    await expect.poll(async () => (await t.bot.deps.store.listOutbox({ status: 'pending' })).length, { timeout: 40_000, interval: 500 }).toBe(0);
    // Every alert was shown exactly once: in its own message or in one digest, never both, never twice.
    const posts = t.slack.calls.filter((c) => c.method === 'chat.postMessage' && !c.failed && c.body.channel === '#dr-critical' && /outage_alert|^\d+ alerts/.test(String(c.body.text)));
    const shown: string[] = [];
    for (const call of posts) {
      const ts = (call.response as { ts: string }).ts;
      const digest = await t.bot.deps.store.getDigest('#dr-critical', ts);
      if (digest) shown.push(...(await t.bot.deps.store.getAlerts(digest)).map((a) => a.alert));
      else shown.push(/(outage_alert_\d+)/.exec(String(call.body.text))![1]!);
    }
    expect(shown.sort()).toEqual([...names].sort());
    expect(posts.some((c) => /^\d+ alerts/.test(String(c.body.text)))).toBe(true);
    // The five resolves edited those messages afterwards: the last edit of each shows the final states.
    const resolved = (await t.bot.deps.store.listAlerts({ states: ['resolved'] })).map((a) => a.alert).filter((n) => n.startsWith('outage_alert'));
    expect(resolved.sort()).toEqual(names.slice(0, 5).sort());
    const lastEdit = t.slack.calls.filter((c) => c.method === 'chat.update' && /^\d+ alerts/.test(String(c.body.text))).at(-1);
    expect(String(lastEdit?.body.text)).toMatch(/resolved/);
    expect(await t.bot.deps.store.listOutbox({ status: 'dead' })).toEqual([]);
  }, SLACK_OUTAGE_MS + 90_000);

  it('lists the open alerts with /dr alerts, for anyone', async () => {
    const response = await t.command('alerts', { user: 'U0ANYONE' });
    expect(response.status).toBe(200);
    const answer = await t.slack.waitFor((c) => c.method === 'response_url' && /alerts? open/.test(String(c.body.text)));
    const text = JSON.stringify(answer.body.blocks);
    expect(text).toContain('failed_login_spike');
    expect(text).not.toContain('outage_alert_0 ');
  });

  it('posts an alert again when its message was deleted, instead of blocking its later changes', async () => {
    await post(t, '/alerts', alert('deleted_message_alert', 'firing'));
    const first = await t.slack.waitFor((c) => c.method === 'chat.postMessage' && String(c.body.text).includes('deleted_message_alert'));
    t.slack.failNext('chat.update', { error: 'message_not_found' });
    await post(t, '/alerts', alert('deleted_message_alert', 'resolved'));
    const again = await t.slack.waitFor((c) => c.method === 'chat.postMessage' && String(c.body.text).includes('deleted_message_alert') && c !== first, 15_000);
    expect(String(again.body.text)).toContain('resolved');
    await expect.poll(async () => (await t.bot.deps.store.listOutbox({ status: 'pending' })).length).toBe(0);
  });
});
