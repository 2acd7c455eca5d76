import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import type { DispatchDeps } from '../../commands/dispatch.ts';
import type { Gate } from '../../domain/gate.ts';
import { DrError, errorText, toDrError } from '../../domain/errors.ts';
import { approveGate, attachGateMessage, confirmableGate, confirmGate, openGate, rejectGate, type GateActor, type GateProgress } from '../../gates/gates.ts';
import { runGate } from '../../gates/gated-procedures.ts';
import { GATE_ACTION, GATE_VIEW } from '../ids.ts';
import { errorBlocks } from '../render/error.ts';
import { confirmModal, gateBlocks, incidentOfferBlocks } from '../render/gate.ts';
import { declareIncident } from '../../procedures/incidents.ts';
import { startRunMessage } from '../run-message.ts';
import { fitMessage } from '../render/limits.ts';
import { channelRef } from '../../render/mrkdwn.ts';

/** Confirm → typed name → approvals → run: the Slack side of the gates; every decision is the gate module's. */
export function registerGateListeners(app: App, deps: DispatchDeps): void {
  const systemName = deps.config.system.name;
  const actorOf = (body: BlockAction, gateChannel?: string): GateActor => ({ source: 'slack', actor: body.user.id, channel: body.channel?.id ?? gateChannel ?? 'unknown' });

  app.action<BlockAction<ButtonAction>>(GATE_ACTION.confirm, async ({ ack, body, action, client }) => {
    await ack();
    const who = actorOf(body);
    try {
      const gate = await confirmableGate(deps.gates, action.value ?? '', who);
      await client.views.open({ trigger_id: body.trigger_id, view: confirmModal(gate, systemName) });
    } catch (error) {
      await tellUser(client, who, toDrError(error), deps);
    }
  });

  app.view(GATE_VIEW.confirm, async ({ ack, view, body, client }) => {
    const gateId = view.private_metadata;
    const typed = view.state.values[GATE_VIEW.nameBlock]?.[GATE_VIEW.nameInput]?.value ?? '';
    const gate = await deps.store.getGate(gateId).catch(() => undefined);
    const who: GateActor = { source: 'slack', actor: body.user.id, channel: gate?.channel ?? 'unknown' };
    if (typed.trim() !== systemName) {
      await ack({ response_action: 'errors', errors: { [GATE_VIEW.nameBlock]: `That is not the system name. Type ${systemName} exactly.` } });
      // Audited by the gate module (and refused there too: the check is not only in this listener).
      await confirmGate(deps.gates, gateId, who, typed).catch(() => {});
      return;
    }
    await ack();
    await advance(client, who, () => confirmGate(deps.gates, gateId, who, typed));
  });

  app.action<BlockAction<ButtonAction>>(GATE_ACTION.approve, async ({ ack, body, action, client }) => {
    await ack();
    const [gateId = '', planHash = ''] = (action.value ?? '').split(':');
    const gate = await deps.store.getGate(gateId).catch(() => undefined);
    const who = actorOf(body, gate?.channel);
    await advance(client, who, () => approveGate(deps.gates, gateId, who, planHash));
  });

  app.action<BlockAction<ButtonAction>>(GATE_ACTION.declareIncident, async ({ ack, body, action, client }) => {
    await ack();
    const gate = await deps.store.getGate(action.value ?? '').catch(() => undefined);
    const who = actorOf(body, gate?.channel);
    if (!gate) return;
    if (!(await deps.roles.holdsAny(who.actor))) return void (await tellUser(client, who, new DrError('NOT_AUTHORIZED', 'Only people listed in slack.roles can declare incidents.'), deps));
    try {
      const incident = await declareIncident(deps.incidents, { title: gate.plan.title, kind: gate.procedure === 'isolate' ? 'security' : 'operational', actor: who.actor });
      await client.chat.postEphemeral({ channel: who.channel, user: who.actor, text: `Incident ${incident.id} declared; its thread is in ${channelRef(incident.channel)}.` }).catch(() => {});
    } catch (error) {
      await tellUser(client, who, toDrError(error), deps);
    }
  });

  for (const actionId of [GATE_ACTION.reject, GATE_ACTION.cancel]) {
    app.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action, client }) => {
      await ack();
      const who = actorOf(body);
      try {
        await refreshGateMessage(client, await rejectGate(deps.gates, action.value ?? '', who), deps);
      } catch (error) {
        await tellUser(client, who, toDrError(error), deps);
      }
    });
  }

  // One transition, then whatever it leads to: a message update, a new plan, or the run itself.
  async function advance(client: WebClient, who: GateActor, transition: () => Promise<GateProgress>): Promise<void> {
    let progress: GateProgress;
    try {
      progress = await transition();
    } catch (error) {
      await tellUser(client, who, toDrError(error), deps);
      return;
    }
    await refreshGateMessage(client, progress.gate, deps);
    if (progress.kind === 'void') {
      const replacement = await openGate(deps.gates, progress.newPlan, { source: 'slack', actor: progress.gate.requester, channel: progress.gate.channel });
      await postGate(client, replacement, deps, 'The plan changed before it ran (for example, a newer backup exists). Here is the new plan; nothing has run.');
      return;
    }
    if (progress.kind === 'execute') await execute(client, progress.gate, who);
  }

  async function execute(client: WebClient, gate: Gate, who: GateActor): Promise<void> {
    const message = startRunMessage(client, gate.channel, gate.messageTs, deps.logger);
    try {
      await runGate({ engine: deps.engine, gated: deps.gated, gates: deps.gates, incidents: deps.incidents }, gate, { actor: who.actor, channel: gate.channel, ...(gate.messageTs ? { messageTs: gate.messageTs } : {}) }, (run) => message.observe(run));
    } catch (error) {
      deps.logger.error({ gate: gate.id, err: errorText(error) }, 'gated run could not be executed');
      await tellUser(client, who, toDrError(error), deps);
    } finally {
      await message.flush();
      const closed = await deps.store.getGate(gate.id).catch(() => undefined);
      if (closed) await refreshGateMessage(client, closed, deps);
    }
  }
}

/** Posts a new plan into its channel with its buttons, and remembers the message. */
export async function postGate(client: WebClient, gate: Gate, deps: DispatchDeps, lead?: string): Promise<Gate> {
  const message = gateBlocks(gate, new Date());
  const offer = (await deps.store.currentIncident().catch(() => undefined)) ? [] : incidentOfferBlocks(gate);
  const blocks = [...(lead ? [{ type: 'section' as const, text: { type: 'mrkdwn' as const, text: lead } }] : []), ...message.blocks, ...offer];
  const answer = await client.chat.postMessage({ channel: gate.channel, ...fitMessage({ text: lead ? `${lead} ${message.text}` : message.text, blocks }) });
  return answer.ts ? attachGateMessage(deps.gates, gate, answer.ts) : gate;
}

async function refreshGateMessage(client: WebClient, gate: Gate, deps: DispatchDeps): Promise<void> {
  if (!gate.messageTs) return;
  await client.chat.update({ channel: gate.channel, ts: gate.messageTs, ...gateBlocks(gate, new Date()) }).catch((error: unknown) => {
    deps.logger.warn({ gate: gate.id, err: errorText(error) }, 'plan message not updated');
  });
}

async function tellUser(client: WebClient, who: GateActor, error: DrError, deps: DispatchDeps): Promise<void> {
  await client.chat.postEphemeral({ channel: who.channel, user: who.actor, ...errorBlocks(error) }).catch((e: unknown) => {
    deps.logger.warn({ err: errorText(e), user: who.actor }, 'could not tell the user why the gate refused');
  });
}
