// The outbox's health as people and Prometheus see it: /metrics linted by Debian's promtool, a message given up
// on said in the critical channel and counted in dr_outbox_dead_total, and /dr status showing both.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { startTestBot, type TestBot } from '../helpers/bot.ts';
import { postAlerts } from '../helpers/alert-storm.ts';

const TOKEN = 'outbox-health-token';

// Under CI=true a missing promtool is a failure, never a skip (.ci/run installs Debian's prometheus package).
const hasPromtool = spawnSync('promtool', ['--version']).status === 0;
if (!hasPromtool && process.env.CI === 'true') throw new Error('promtool is required under CI=true (.ci/run installs the prometheus package)');

/** One sample of the bot's /metrics, by name and labels. */
async function sample(t: TestBot, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const text = await (await fetch(`${t.bot.url}/metrics`)).text();
  const family = parsePrometheusTextFormat(text).find((f) => f.name === name);
  const found = family?.metrics.find((m) => Object.entries(labels).every(([key, value]) => m.labels?.[key] === value));
  return found?.value === undefined ? undefined : Number(found.value);
}

describe('outbox health', () => {
  let t: TestBot;
  beforeAll(async () => {
    t = await startTestBot({ env: { DR_ALERT_TOKEN: TOKEN } });
  });
  afterAll(async () => t?.close());

  it.skipIf(!hasPromtool)('serves /metrics that `promtool check metrics` accepts, process metrics and outbox gauges included', async () => {
    // Slack down: the alert waits in the outbox, so the gauges have something to say.
    t.slack.setDown(true);
    try {
      expect((await postAlerts(t.bot.url, TOKEN, '/alerts', JSON.stringify({ alert: 'metrics_probe', severity: 'warning', status: 'firing', summary: 'waits' }))).status).toBe(202);
      await expect.poll(() => sample(t, 'dr_outbox_pending', { target: 'slack' }), { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
      const text = await (await fetch(`${t.bot.url}/metrics`)).text();
      expect(text).toContain('process_resident_memory_bytes');
      expect(text).toContain('nodejs_active_handles');
      expect(text).toMatch(/^dr_outbox_dead_total\{target="pagerduty"\} 0$/m);
      expect(text).toMatch(/^dr_outbox_oldest_pending_seconds\{target="slack"\} [\d.e+-]+$/m);
      const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect(`${lint.stdout}${lint.stderr}`).toBe('');
      expect(lint.status).toBe(0);
    } finally {
      t.slack.setDown(false);
    }
    await expect.poll(async () => (await t.bot.deps.store.listOutbox({ status: 'pending' })).length, { timeout: 30_000, interval: 250 }).toBe(0);
    expect(await sample(t, 'dr_outbox_pending', { target: 'slack' })).toBe(0);
  }, 60_000);

  it('says in the critical channel when a notification is given up on, counts it, and /dr status shows it', async () => {
    // The warning channel refuses every post for good: three tries, then the message is given up on.
    t.slack.failNext('chat.postMessage', { error: 'channel_not_found', times: 3 });
    expect((await postAlerts(t.bot.url, TOKEN, '/alerts', JSON.stringify({ alert: 'unreachable_channel', severity: 'warning', status: 'firing', summary: 'nobody sees this' }))).status).toBe(202);
    const notice = await t.slack.waitFor((c) => c.method === 'chat.postMessage' && !c.failed && String(c.body.text).includes('given up on'), 30_000);
    expect(notice.body.channel).toBe('#dr-critical');
    expect(String(notice.body.text)).toContain('channel_not_found');
    expect(await sample(t, 'dr_outbox_dead_total', { target: 'slack' })).toBe(1);
    const [dead] = await t.bot.deps.store.listOutbox({ status: 'dead' });
    expect(dead?.payload).toMatchObject({ kind: 'slack_alert', channel: '#dr-warnings' });

    const status = await t.bot.deps.currentStatus();
    const outbox = status.probes.find((p) => p.id === 'outbox');
    expect(outbox).toMatchObject({ state: 'warn', title: 'Alert delivery' });
    expect(outbox?.summary).toContain('1 notification given up on');
  }, 60_000);
});
