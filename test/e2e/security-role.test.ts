import { readFile } from 'node:fs/promises';
import dotenv from 'dotenv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { GATE_ACTION, GATE_BLOCK } from '../../src/slack/ids.ts';
import { startTestBot, type TestBot } from '../helpers/bot.ts';
import { approve, askForPlan, confirmByTyping, finishedRun, GATE_CHANNEL } from '../helpers/gates.ts';
import { tempSandbox } from '../helpers/sandbox.ts';
import { clickButton } from '../helpers/slack-interactions.ts';

const OPERATOR = 'U0OPERATOR';
const APPROVER = 'U0APPROVER';
const SECURITY = 'U0SECURITY';
const SYSTEM = 'alphha-sandbox';

// DESIGN.md §1: the security responder runs /dr isolate, /dr rotate-secrets and /dr audit — behind the same gates
// and approvals as anyone — and nothing else destructive.
describe('the security responder (slack.roles.security)', () => {
  let sandbox: Sandbox;
  let t: TestBot;
  beforeAll(async () => {
    sandbox = await tempSandbox({
      config: { slack: { roles: { operators: [OPERATOR], approvers: [APPROVER], security: [SECURITY] } }, gates: { 'rotate-secrets': { approvals: 1, expires: '15m' } }, service: { timeout: '20s' } },
    });
    await sandbox.startServer();
    t = await startTestBot({ configPath: sandbox.configPath });
    await t.bot.deps.backupDatabase();
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await sandbox?.destroy();
  });

  const outcomes = async (actor: string) => (await t.bot.deps.store.listAudit({ limit: 10_000 })).filter((row) => row.actor === actor).map((row) => `${row.command}: ${row.outcome}`);

  it('is refused the restores, in the ack, naming the operators role, and nothing is planned', async () => {
    for (const text of ['restore db latest', 'restore storage latest', 'restore all', 'restore undo']) {
      const ack = await t.command(text, { user: SECURITY });
      expect(ack.status).toBe(200);
      const answer = JSON.parse(ack.body) as { text: string };
      expect(answer.text).toContain('not listed in slack.roles.operators.');
      expect(answer.text).toContain('Nothing was run.');
    }
    expect(await t.bot.deps.store.listOpenGates()).toEqual([]);
  });

  it('may not confirm an operator’s restore plan either', async () => {
    const plan = await askForPlan(t, 'restore db latest', OPERATOR);
    await clickButton(t.bot.url, { user: SECURITY, channel: GATE_CHANNEL, messageTs: plan.messageTs, actionId: GATE_ACTION.confirm, blockId: GATE_BLOCK.actions, value: plan.gateId });
    const refusal = await t.slack.waitFor((c) => c.method === 'chat.postEphemeral' && c.body.user === SECURITY);
    expect(String(refusal.body.text)).toContain('Only operators (slack.roles.operators) can confirm this plan.');
    expect((await t.bot.deps.store.getGate(plan.gateId))?.state).toBe('awaiting_confirmation');
  });

  it('rotates secrets behind the gate: confirms by typing, cannot approve their own plan, an approver can', async () => {
    const before = dotenv.parse(await readFile(sandbox.envFile, 'utf8'));
    const plan = await askForPlan(t, 'rotate-secrets SECRET_KEY', SECURITY);
    await confirmByTyping(t, plan, SECURITY, SYSTEM);
    await expect.poll(async () => (await t.bot.deps.store.getGate(plan.gateId))?.state).toBe('awaiting_approval');
    // Still behind its approval: the requester's own click is refused and nothing runs.
    const gate = (await t.bot.deps.store.getGate(plan.gateId))!;
    await approve(t, gate, plan.messageTs, SECURITY);
    await t.slack.waitFor((c) => c.method === 'chat.postEphemeral' && c.body.user === SECURITY && /Only approvers|another approver/.test(String(c.body.text)));
    expect((await t.bot.deps.store.getGate(plan.gateId))?.state).toBe('awaiting_approval');
    expect(dotenv.parse(await readFile(sandbox.envFile, 'utf8')).SECRET_KEY).toBe(before.SECRET_KEY);
    await approve(t, gate, plan.messageTs, APPROVER);
    const run = await finishedRun(t, plan.gateId);
    expect(run.status).toBe('succeeded');
    expect(await t.bot.deps.store.getGate(plan.gateId)).toMatchObject({ requester: SECURITY, confirmedBy: SECURITY, approvals: [APPROVER] });
    const after = dotenv.parse(await readFile(sandbox.envFile, 'utf8'));
    expect(after.SECRET_KEY).not.toBe(before.SECRET_KEY);
    expect(after.SECRET_KEY_PREVIOUS).toBe(before.SECRET_KEY);
  }, 120_000);

  it('isolates behind the gate (no approval configured): confirmed by typing, it runs', async () => {
    expect((await fetch(sandbox.healthUrl)).ok).toBe(true);
    const plan = await askForPlan(t, 'isolate', SECURITY);
    await confirmByTyping(t, plan, SECURITY, SYSTEM);
    const run = await finishedRun(t, plan.gateId, 60_000);
    expect(run).toMatchObject({ status: 'succeeded', procedure: 'isolate' });
    expect(await t.bot.deps.store.getGate(plan.gateId)).toMatchObject({ requester: SECURITY, confirmedBy: SECURITY });
    await expect(fetch(sandbox.healthUrl)).rejects.toThrow();
  }, 90_000);

  it('exports the audit ledger, and the audit trail names them for everything above', async () => {
    const ack = await t.command('audit 1h', { user: SECURITY });
    expect(ack.status).toBe(200);
    await t.slack.waitFor((c) => c.method === 'upload_url', 15_000);
    await expect.poll(() => outcomes(SECURITY), { timeout: 10_000 }).toContain('audit: ok');
    const trail = await outcomes(SECURITY);
    expect(trail.filter((line) => line.endsWith(': not_authorized'))).toHaveLength(4);
    expect(trail).toContain('rotate-secrets: ok');
    expect(trail).toContain('isolate: ok');
  });

  it('refuses someone with no role at all', async () => {
    const ack = await t.command('isolate', { user: 'U0STRANGER' });
    expect(JSON.parse(ack.body).text).toContain('not listed in slack.roles.operators or slack.roles.security. Nothing was run.');
  });
});
