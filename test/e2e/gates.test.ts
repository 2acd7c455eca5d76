import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { GATE_ACTION, GATE_BLOCK } from '../../src/slack/ids.ts';
import { askForPlan, typedName } from '../helpers/gates.ts';
import { WebClient } from '@slack/web-api';
import { startGateExpirySweep } from '../../src/slack/gate-expiry.ts';
import { startTestBot, type TestBot } from '../helpers/bot.ts';
import { tempSandbox } from '../helpers/sandbox.ts';
import { clickButton, submitModal } from '../helpers/slack-interactions.ts';

const CHANNEL = 'C0OPS00001';
const OPERATOR = 'U0OPERATOR';
const APPROVER = 'U0APPROVER';

describe('confirmation gates through Slack', () => {
  let sandbox: Sandbox;
  let t: TestBot;
  beforeAll(async () => {
    // No approval needed, so a confirmed plan runs at once; gates expire after two seconds.
    sandbox = await tempSandbox({
      config: { slack: { roles: { operators: [OPERATOR, 'S0ONCALL'], approvers: [APPROVER] } }, gates: { restore: { approvals: 0, expires: '2s' } }, service: { timeout: '15s' } },
    });
    await sandbox.startServer();
    t = await startTestBot({ configPath: sandbox.configPath });
    t.slack.on('usergroups.users.list', (body) => ({ ok: true, users: body.usergroup === 'S0ONCALL' ? ['U0GROUPMEMBER'] : [] }));
    await t.bot.deps.backupDatabase();
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await sandbox?.destroy();
  });

  it('refuses a user without the operator role, in the ack and on the Confirm button, and audits both', async () => {
    const ack = await t.command('restore db latest', { user: 'U0STRANGER' });
    expect(JSON.parse(ack.body).text).toContain('`destructive` commands need a role');
    const { gateId, messageTs } = await askForPlan(t, 'restore db latest', OPERATOR);
    await clickButton(t.bot.url, { user: 'U0STRANGER', channel: CHANNEL, messageTs, actionId: GATE_ACTION.confirm, blockId: GATE_BLOCK.actions, value: gateId });
    const refusal = await t.slack.waitFor((c) => c.method === 'chat.postEphemeral' && c.body.user === 'U0STRANGER');
    expect(String(refusal.body.text)).toContain('Only operators');
    expect(t.slack.callsTo('views.open')).toHaveLength(0);
    const outcomes = (await t.bot.deps.store.listAudit()).filter((e) => e.actor === 'U0STRANGER').map((e) => e.outcome);
    expect(outcomes).toEqual(['not_authorized', 'confirm_denied']);
    expect(await t.bot.deps.store.listRuns()).toEqual([]);
  });

  it('lets a member of an operators user group ask for a plan, as Slack lists the group', async () => {
    const { gateId } = await askForPlan(t, 'restore db latest', 'U0GROUPMEMBER');
    expect((await t.bot.deps.store.getGate(gateId))?.requester).toBe('U0GROUPMEMBER');
    expect(t.slack.callsTo('usergroups.users.list').map((c) => c.body.usergroup)).toContain('S0ONCALL');
  });

  it('runs a plan once when the typed confirmation arrives twice at once, and again as a Slack retry', async () => {
    const { gateId } = await askForPlan(t, 'restore db latest', OPERATOR);
    const answers = await Promise.all([submitModal(t.bot.url, typedName(gateId, OPERATOR, 'alphha-sandbox')), submitModal(t.bot.url, typedName(gateId, OPERATOR, 'alphha-sandbox')), submitModal(t.bot.url, typedName(gateId, OPERATOR, 'alphha-sandbox'), { retryNum: 1 })]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    await expect.poll(async () => (await t.bot.deps.store.getGate(gateId))?.state, { timeout: 60_000 }).toBe('finished');
    expect((await t.bot.deps.store.listRuns()).filter((r) => r.gateId === gateId)).toHaveLength(1);
    await t.slack.waitFor((c) => c.method === 'chat.postEphemeral' && /already running|at the same moment|has already run/.test(String(c.body.text)));
  }, 90_000);

  it('runs nothing once the gate has expired, says so, and audits the expiry', async () => {
    const runsBefore = (await t.bot.deps.store.listRuns()).length;
    const { gateId, messageTs } = await askForPlan(t, 'restore db latest', OPERATOR);
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    await clickButton(t.bot.url, { user: OPERATOR, channel: CHANNEL, messageTs, actionId: GATE_ACTION.confirm, blockId: GATE_BLOCK.actions, value: gateId });
    const refusal = await t.slack.waitFor((c) => c.method === 'chat.postEphemeral' && String(c.body.text).includes('expired'));
    expect(String(refusal.body.text)).toContain('Nothing was run');
    await submitModal(t.bot.url, typedName(gateId, OPERATOR, 'alphha-sandbox'));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await t.bot.deps.store.getGate(gateId))?.state).toBe('expired');
    expect(await t.bot.deps.store.listRuns()).toHaveLength(runsBefore);
    expect((await t.bot.deps.store.listAudit()).some((e) => e.outcome === 'plan_expired' && (e.detail as { gateId?: string }).gateId === gateId)).toBe(true);
  });

  it('turns an expired plan message into "nothing ran" without anyone clicking, audited', async () => {
    const { gateId, messageTs } = await askForPlan(t, 'restore db latest', OPERATOR);
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    // A client without a default token, as Bolt's is: the sweep must pass the bot token itself.
    const client = new WebClient(undefined, { slackApiUrl: t.slack.apiUrl, retryConfig: { retries: 0 } });
    const sweeper = startGateExpirySweep(client, 'xoxb-test-token', t.bot.deps, 3_600_000);
    await sweeper.sweep();
    sweeper.stop();
    expect((await t.bot.deps.store.getGate(gateId))?.state).toBe('expired');
    const update = await t.slack.waitFor((c) => c.method === 'chat.update' && c.body.ts === messageTs);
    expect(JSON.stringify(update.body.blocks)).toContain('expired — nothing ran');
    expect(JSON.stringify(update.body.blocks)).not.toContain(GATE_ACTION.confirm);
    expect((await t.bot.deps.store.listAudit()).some((e) => e.outcome === 'plan_expired' && (e.detail as { gateId?: string }).gateId === gateId)).toBe(true);
  });

  it('offers to declare an incident under a plan made outside one, and declares it on click', async () => {
    const { gateId, messageTs, message } = await askForPlan(t, 'restore db latest', OPERATOR);
    expect(JSON.stringify(message.body.blocks)).toContain(GATE_ACTION.declareIncident);
    await clickButton(t.bot.url, { user: OPERATOR, channel: CHANNEL, messageTs, actionId: GATE_ACTION.declareIncident, blockId: GATE_BLOCK.incidentOffer, value: gateId });
    await expect.poll(async () => (await t.bot.deps.store.currentIncident())?.title).toMatch(/^Restore the DMS database from db-/);
    // With an incident open, the next plan does not offer another.
    const next = await askForPlan(t, 'restore db latest', OPERATOR);
    expect(JSON.stringify(next.message.body.blocks)).not.toContain(GATE_ACTION.declareIncident);
    await t.command('incident resolve', { user: OPERATOR });
    await expect.poll(async () => await t.bot.deps.store.currentIncident()).toBeUndefined();
  });

  it('refuses a backup id that does not exist, and a malformed one, changing nothing', async () => {
    const unknown = await t.command('restore db db-20200101T000000Z-abcd', { user: OPERATOR });
    await t.slack.waitFor((c) => c.method === 'response_url' && String(c.body.text).includes('There is no backup db-20200101T000000Z-abcd'));
    expect(unknown.status).toBe(200);
    const injected = await t.command('restore db latest;reboot', { user: OPERATOR });
    expect(JSON.parse(injected.body).text).toContain('is not a backup id');
    const twoWords = await t.command('restore db latest now', { user: OPERATOR });
    expect(JSON.parse(twoWords.body).text).toContain('takes one backup');
  });
});
