import { describe, expect, it } from 'vitest';
import { useSandboxBot } from '../helpers/bot.ts';
import { openAppHome } from '../helpers/slack-interactions.ts';

describe('App Home', () => {
  const { t } = useSandboxBot();

  it('publishes the live dashboard when the Home tab is opened: components, backups and RPO, alerts, incident, drill', async () => {
    await t().bot.deps.backupDatabase();
    const response = await openAppHome(t().bot.url, 'U0ONCALL');
    expect(response.status).toBe(200);
    const published = await t().slack.waitFor((c) => c.method === 'views.publish', 10_000);
    expect(published.body.user_id).toBe('U0ONCALL');
    const text = JSON.stringify(published.body.view);
    for (const part of ['Components, backups and RPO exposure', 'DMS database', 'Backups', 'RPO exposure', 'Firing alerts (0)', 'No incident is open.', 'No drill yet.']) expect(text).toContain(part);
  });
});
