// Driving a confirmation gate through Slack as people do: ask, click Confirm, type the name, approve.
import { expect } from 'vitest';
import type { Gate } from '../../src/domain/gate.ts';
import type { Run } from '../../src/domain/run.ts';
import { GATE_ACTION, GATE_BLOCK, GATE_VIEW } from '../../src/slack/ids.ts';
import type { SlackCall } from '../fakes/slack-api.ts';
import type { TestBot } from './bot.ts';
import { clickButton, submitModal } from './slack-interactions.ts';

/** The channel every gate test asks in (the slash-command default). */
export const GATE_CHANNEL = 'C0OPS00001';

/** The gate a plan message belongs to, read from its Confirm button. */
export function gateIdOf(call: SlackCall): string {
  const blocks = call.body.blocks as Array<{ block_id?: string; elements?: Array<{ action_id?: string; value?: string }> }>;
  const confirm = blocks.find((b) => b.block_id === GATE_BLOCK.actions)?.elements?.find((e) => e.action_id === GATE_ACTION.confirm);
  if (!confirm?.value) throw new Error('no Confirm button in the plan message');
  return confirm.value;
}

/** Sends `/dr <text>` and waits for the plan message it posts. */
export async function askForPlan(t: TestBot, text: string, user: string): Promise<{ gateId: string; messageTs: string; message: SlackCall }> {
  const posted = t.slack.calls.length;
  const ack = await t.command(text, { user });
  expect(ack.status).toBe(200);
  const message = await t.slack.waitFor((c) => t.slack.calls.indexOf(c) >= posted && c.method === 'chat.postMessage' && JSON.stringify(c.body.blocks ?? '').includes(GATE_ACTION.confirm), 20_000);
  return { gateId: gateIdOf(message), messageTs: (message.response as { ts: string }).ts, message };
}

/** The modal submission typing `name` for a gate. */
export function typedName(gateId: string, user: string, name: string) {
  return { user, callbackId: GATE_VIEW.confirm, privateMetadata: gateId, values: { [GATE_VIEW.nameBlock]: { [GATE_VIEW.nameInput]: name } } };
}

/** Clicks Confirm, waits for the modal and types the system name. */
export async function confirmByTyping(t: TestBot, plan: { gateId: string; messageTs: string }, user: string, systemName: string): Promise<void> {
  await clickButton(t.bot.url, { user, channel: GATE_CHANNEL, messageTs: plan.messageTs, actionId: GATE_ACTION.confirm, blockId: GATE_BLOCK.actions, value: plan.gateId });
  await t.slack.waitFor((c) => c.method === 'views.open' && (c.body.view as { private_metadata?: string }).private_metadata === plan.gateId);
  const answer = await submitModal(t.bot.url, typedName(plan.gateId, user, systemName));
  expect(answer.status).toBe(200);
}

/** Clicks Approve on a plan message. */
export function approve(t: TestBot, gate: Gate, messageTs: string, user: string) {
  return clickButton(t.bot.url, { user, channel: GATE_CHANNEL, messageTs, actionId: GATE_ACTION.approve, blockId: GATE_BLOCK.actions, value: `${gate.id}:${gate.plan.hash}` });
}

/** Waits for a gate's run to end and returns it. */
export async function finishedRun(t: TestBot, gateId: string, timeout = 90_000): Promise<Run> {
  await expect.poll(async () => (await t.bot.deps.store.getGate(gateId))?.state, { timeout, interval: 250 }).toBe('finished');
  const gate = (await t.bot.deps.store.getGate(gateId))!;
  return (await t.bot.deps.store.getRun(gate.runId!))!;
}

/** Asks, confirms and has an approver approve: the whole gate, for tests about what runs behind it. */
export async function runThroughGate(t: TestBot, text: string, people: { requester: string; approver: string }, systemName: string): Promise<Run> {
  const plan = await askForPlan(t, text, people.requester);
  await confirmByTyping(t, plan, people.requester, systemName);
  await expect.poll(async () => (await t.bot.deps.store.getGate(plan.gateId))?.state).toBe('awaiting_approval');
  await approve(t, (await t.bot.deps.store.getGate(plan.gateId))!, plan.messageTs, people.approver);
  return finishedRun(t, plan.gateId);
}
