import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import type { SlackCall } from '../fakes/slack-api.ts';
import { startTestBot, TEST_SIGNING_SECRET, type TestBot } from '../helpers/bot.ts';
import { runThroughGate } from '../helpers/gates.ts';
import { tempSandbox } from '../helpers/sandbox.ts';
import { clickButton } from '../helpers/slack-interactions.ts';
import { ALERT_ACTION, ALERT_BLOCK, CHECKLIST_ACTION, CHECKLIST_BLOCK } from '../../src/slack/ids.ts';
import { sendInteraction } from '../helpers/slack-requests.ts';

const OPERATOR = 'U0OPERATOR';
const APPROVER = 'U0APPROVER';
const STAKEHOLDERS = '#dr-stakeholders';

describe('incidents: one stakeholder thread from declare to resolve', () => {
  let sandbox: Sandbox;
  let t: TestBot;
  beforeAll(async () => {
    sandbox = await tempSandbox({
      config: { slack: { roles: { operators: [OPERATOR], approvers: [APPROVER] } }, contacts: { security: 'S0SECURITY', management: 'U0CTO' }, service: { timeout: '15s' } },
    });
    await sandbox.startServer();
    t = await startTestBot({ configPath: sandbox.configPath, env: { DR_ALERT_TOKEN: 'incident-test-token' } });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await sandbox?.destroy();
  });

  const inThread = (ts: string) => (c: SlackCall) => c.method === 'chat.postMessage' && c.body.channel === STAKEHOLDERS && c.body.thread_ts === ts;

  it('declares, takes updates, notices and run summaries in the thread, and resolves with RTO and RPO', async () => {
    await t.command('incident declare Database corrupted after storage failure', { user: OPERATOR });
    const parent = await t.slack.waitFor((c) => c.method === 'chat.postMessage' && c.body.channel === STAKEHOLDERS && String(c.body.text).includes('Database corrupted after storage failure'));
    const ts = (parent.response as { ts: string }).ts;
    // One open incident at a time.
    await t.command('incident declare another one', { user: OPERATOR });
    await t.slack.waitFor((c) => c.method === 'response_url' && String(c.body.text).includes('is still open'));

    await t.command('incident update restoring from the 03:00 backup <!channel>', { user: OPERATOR });
    const update = await t.slack.waitFor((c) => inThread(ts)(c) && String(c.body.text).includes('restoring from the 03:00 backup'));
    expect(String(update.body.text)).toContain('&lt;!channel&gt;');
    await t.command('incident notify security', { user: OPERATOR });
    const notice = await t.slack.waitFor((c) => inThread(ts)(c) && String(c.body.text).includes('Security notice'));
    expect(String(notice.body.text)).toContain('<!subteam^S0SECURITY>');

    // A restore during the incident reports into the thread.
    await t.bot.deps.backupDatabase();
    const run = await runThroughGate(t, 'restore db latest', { requester: OPERATOR, approver: APPROVER }, 'alphha-sandbox');
    expect(run.status).toBe('succeeded');
    await t.slack.waitFor((c) => inThread(ts)(c) && String(c.body.text).includes(run.id));

    await t.command('incident resolve', { user: OPERATOR });
    const resolution = await t.slack.waitFor((c) => inThread(ts)(c) && String(c.body.text).includes('Resolved by'), 15_000);
    const text = String(resolution.body.text);
    expect(text).toMatch(/Downtime: .* against 4 h — within the objective \(RTO\)/);
    expect(text).toMatch(/Data loss: .* against 1 h — within the objective \(RPO\)/);
    expect(text).toContain('Conduct post-mortem');
    await t.slack.waitFor((c) => c.method === 'chat.update' && c.body.ts === ts && String(c.body.text).includes('Incident'));
    // Nothing to update once it is closed.
    await t.command('incident update too late', { user: OPERATOR });
    await t.slack.waitFor((c) => c.method === 'response_url' && String(c.body.text).includes('No incident is open'));
  }, 120_000);

  it('refuses bad input and people without a role', async () => {
    expect(JSON.parse((await t.command('incident notify press', { user: OPERATOR })).body).text).toContain('takes one of security, legal, tenants');
    expect(JSON.parse((await t.command('incident declare', { user: OPERATOR })).body).text).toContain('needs a title');
    expect(JSON.parse((await t.command('incident declare hello', { user: 'U0STRANGER' })).body).text).toContain('need a role');
  });

  it('acknowledges an alert from its message and declares an incident from it', async () => {
    const response = await fetch(`${t.bot.url}/alerts`, {
      method: 'POST',
      headers: { authorization: 'Bearer incident-test-token', 'content-type': 'application/json' },
      body: JSON.stringify({ alert: 'health_endpoint_down', severity: 'critical', status: 'firing', summary: 'health answers 503' }),
    });
    expect(response.status).toBe(202);
    const posted = await t.slack.waitFor((c) => c.method === 'chat.postMessage' && String(c.body.text).includes('health_endpoint_down'));
    const ts = (posted.response as { ts: string }).ts;
    const [alert] = await t.bot.deps.store.listAlerts({ states: ['firing'] });
    const click = (user: string, actionId: string) => clickButton(t.bot.url, { user, channel: '#dr-critical', messageTs: ts, actionId, blockId: ALERT_BLOCK.actions, value: alert!.fingerprint });

    await click('U0STRANGER', ALERT_ACTION.acknowledge);
    await t.slack.waitFor((c) => c.method === 'chat.postEphemeral' && c.body.user === 'U0STRANGER');
    expect((await t.bot.deps.store.getAlerts([alert!.fingerprint]))[0]!.state).toBe('firing');

    await click(OPERATOR, ALERT_ACTION.declareIncident);
    await t.slack.waitFor((c) => c.method === 'chat.postEphemeral' && c.body.user === OPERATOR && String(c.body.text).includes('declared'));
    expect(await t.bot.deps.store.currentIncident()).toMatchObject({ title: 'health_endpoint_down: health answers 503', kind: 'operational' });

    await click(OPERATOR, ALERT_ACTION.acknowledge);
    const updated = await t.slack.waitFor((c) => c.method === 'chat.update' && c.body.ts === ts && String(c.body.text).includes('acknowledged'));
    expect(JSON.stringify(updated.body.blocks)).toContain(`Acknowledged by <@${OPERATOR}>`);
    expect(JSON.stringify(updated.body.blocks)).not.toContain(ALERT_ACTION.acknowledge);
    await t.command('incident resolve', { user: OPERATOR });
    await expect.poll(async () => await t.bot.deps.store.currentIncident()).toBeUndefined();
  });

  it('keeps the recovery checklist: ticks by people are stored with who, the bot ticks its own steps in place', async () => {
    await t.command('incident declare Checklist drill', { user: OPERATOR });
    await t.slack.waitFor((c) => c.method === 'chat.postMessage' && String(c.body.text).includes('Checklist drill'));
    const before = t.slack.calls.length;
    await t.command('checklist', { user: OPERATOR });
    const posted = await t.slack.waitFor((c) => t.slack.calls.indexOf(c) >= before && c.method === 'chat.postMessage' && String(c.body.text).startsWith('Recovery checklist'));
    const ts = (posted.response as { ts: string }).ts;
    expect(String(posted.body.text)).toBe('Recovery checklist: 0 of 16 done');

    // A person ticks "Identify incident scope" in the pre-recovery group.
    await sendInteraction(t.bot.url, TEST_SIGNING_SECRET, {
      type: 'block_actions',
      user: { id: OPERATOR, username: 'op', name: 'op', team_id: 'T0FAKE0001' },
      api_app_id: 'A0FAKEAPP1',
      token: 'fake-verification-token',
      container: { type: 'message', message_ts: ts, channel_id: 'C0OPS00001', is_ephemeral: false },
      trigger_id: '1.2.3',
      team: { id: 'T0FAKE0001', domain: 'fake-team' },
      channel: { id: 'C0OPS00001', name: 'ops' },
      message: { type: 'message', ts, text: '', blocks: posted.body.blocks },
      actions: [{ type: 'checkboxes', action_id: CHECKLIST_ACTION.toggle, block_id: CHECKLIST_BLOCK.phase('Pre-recovery'), selected_options: [{ value: 'scope', text: { type: 'mrkdwn', text: 'Identify incident scope' } }], action_ts: '1.2' }],
    });
    await expect.poll(async () => (await t.bot.deps.store.currentIncident())?.checklist?.scope?.by).toBe(OPERATOR);
    await t.slack.waitFor((c) => c.method === 'chat.update' && c.body.ts === ts && String(c.body.text) === 'Recovery checklist: 1 of 16 done');

    // A restore run by the bot ticks what it did itself, editing the same message.
    await t.bot.deps.backupDatabase();
    const run = await runThroughGate(t, 'restore db latest', { requester: OPERATOR, approver: APPROVER }, 'alphha-sandbox');
    expect(run.status).toBe('succeeded');
    const updated = await t.slack.waitFor((c) => c.method === 'chat.update' && c.body.ts === ts && String(c.body.text) === 'Recovery checklist: 6 of 16 done', 15_000);
    expect(JSON.stringify(updated.body.blocks)).toContain('done by dr-bot');
    const ticks = (await t.bot.deps.store.currentIncident())!.checklist!;
    expect(Object.keys(ticks).sort()).toEqual(['recovery_point', 'restore_db', 'scope', 'services_ok', 'stop_services', 'verify_integrity']);
    await t.command('incident resolve', { user: OPERATOR });
  }, 90_000);
});
