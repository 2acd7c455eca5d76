import { describe, expect, it } from 'vitest';
import { TEST_SIGNING_SECRET, useSandboxBot } from '../helpers/bot.ts';
import { postSigned } from '../helpers/slack-requests.ts';

describe('App Home', () => {
  const { t } = useSandboxBot();

  it('publishes the live dashboard when the Home tab is opened: components, backups and RPO, alerts, incident, drill', async () => {
    await t().bot.deps.backupDatabase();
    const event = {
      token: 'fake-verification-token',
      team_id: 'T0FAKE0001',
      api_app_id: 'A0FAKEAPP1',
      type: 'event_callback',
      event_id: 'Ev0HOME0001',
      event_time: Math.floor(Date.now() / 1000),
      event: { type: 'app_home_opened', user: 'U0ONCALL', channel: 'D0HOME0001', tab: 'home', event_ts: `${Date.now() / 1000}` },
    };
    const response = await postSigned(t().bot.url, TEST_SIGNING_SECRET, JSON.stringify(event), 'application/json');
    expect(response.status).toBe(200);
    const published = await t().slack.waitFor((c) => c.method === 'views.publish', 10_000);
    expect(published.body.user_id).toBe('U0ONCALL');
    const text = JSON.stringify(published.body.view);
    for (const part of ['Components, backups and RPO exposure', 'DMS database', 'Backups', 'RPO exposure', 'Firing alerts (0)', 'No incident is open.', 'No drill yet.']) expect(text).toContain(part);
  });
});
