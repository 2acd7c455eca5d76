import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPagerDutyFake, type PagerDutyFake } from '../fakes/pagerduty-fake.ts';
import { startSlackFake, type SlackFake } from '../fakes/slack-api.ts';
import { alertmanagerAvailable, startAlertmanager, type AlertmanagerPeer } from '../helpers/alertmanager.ts';
import { startBotProcess, type BotProcess } from '../helpers/bot-process.ts';
import { groupDedupKey } from '../../src/domain/alert.ts';

const hasAlertmanager = alertmanagerAvailable();
const TOKEN = 'alertmanager-webhook-token';

describe.skipIf(!hasAlertmanager)('a real Alertmanager → the bot → Slack and PagerDuty', () => {
  let dir: string;
  let slack: SlackFake;
  let pagerduty: PagerDutyFake;
  let bot: BotProcess;
  let alertmanager: AlertmanagerPeer;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dr-am-e2e-'));
    slack = await startSlackFake();
    pagerduty = await startPagerDutyFake();
    bot = await startBotProcess(
      { SLACK_API_URL: slack.apiUrl, DR_STATE: path.join(dir, 'state.db'), DR_ALERT_TOKEN: TOKEN, PAGERDUTY_ROUTING_KEY: 'R0UTINGKEY0000000000000000000000', ...pagerduty.env },
      dir,
    );
    alertmanager = await startAlertmanager({ webhookUrl: `${bot.url}/alerts/alertmanager`, token: TOKEN });
  }, 60_000);
  afterAll(async () => {
    await alertmanager?.stop();
    await bot?.stop();
    await pagerduty?.close();
    await slack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('posts a firing alert in the critical channel and pages; resolving updates the message and resolves the page with the same key', async () => {
    const labels = { alertname: 'db_connection_failure', severity: 'critical', instance: 'db-1' };
    await alertmanager.postAlerts([{ labels, annotations: { summary: 'PostgreSQL does not answer SELECT 1' } }]);
    const posted = await slack.waitFor((c) => c.method === 'chat.postMessage' && String(c.body.text).includes('db_connection_failure'), 20_000);
    expect(posted.body.channel).toBe('#dr-critical');
    expect(String(posted.body.text)).toContain('PostgreSQL does not answer SELECT 1');
    // (The bot, started with no DMS at all, also pages its own failed catch-up backup: only this alert counts here.)
    const trigger = await pagerduty.waitFor((e) => e.body.event_action === 'trigger' && (e.body.payload as { class?: string }).class === 'db_connection_failure', 20_000);
    const key = trigger.body.dedup_key as string;
    // Alertmanager's group is the incident, keyed as Alertmanager's own PagerDuty integration keys it.
    expect(key).toBe(groupDedupKey('{}:{alertname="db_connection_failure"}'));
    expect(trigger.body.payload).toMatchObject({ severity: 'critical', source: 'alphha-dms', class: 'db_connection_failure' });
    expect(trigger.body.links).toEqual([{ href: 'https://slack.com/app_redirect?channel=dr-critical', text: 'Slack message' }]);

    await alertmanager.resolve(labels);
    const ts = (posted.response as { ts: string }).ts;
    const updated = await slack.waitFor((c) => c.method === 'chat.update' && c.body.ts === ts && String(c.body.text).includes('resolved'), 20_000);
    expect(updated.body.channel).toBe('#dr-critical');
    const resolve = await pagerduty.waitFor((e) => e.body.event_action === 'resolve' && e.body.dedup_key === key, 20_000);
    expect(resolve.body.dedup_key).toBe(key);
    expect(pagerduty.events.filter((e) => e.body.event_action === 'trigger' && e.body.dedup_key === key)).toHaveLength(1);
    expect(slack.calls.filter((c) => c.method === 'chat.postMessage' && String(c.body.text).includes('db_connection_failure'))).toHaveLength(1);
  }, 60_000);
});
