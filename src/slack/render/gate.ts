import type { ActionsBlock, KnownBlock, ModalView } from '@slack/types';
import type { Gate } from '../../domain/gate.ts';
import { planFacts } from '../../render/plan.ts';
import { GATE_ACTION, GATE_BLOCK, GATE_VIEW } from '../ids.ts';
import { escapeInline, escapeMrkdwn, mention, visibleText } from '../../render/mrkdwn.ts';
import { fitMessage, fitView, type SlackMessage } from './limits.ts';

/** The value an Approve button carries: the gate and the plan hash the approval binds to. */
export function approvalValue(gate: Gate): string {
  return `${gate.id}:${gate.plan.hash}`;
}

/** The message of a plan behind a gate: the plan, where the gate is, and the buttons its state allows. */
export function gateBlocks(gate: Gate, now: Date): SlackMessage {
  const plan = gate.plan;
  const facts = planFacts(plan, now).map(([label, value]) => `*${label}:* ${escapeMrkdwn(value)}`);
  const steps = plan.steps.map((step, i) => `${i + 1}. ${escapeMrkdwn(step)}`);
  const notes = plan.notes.map((note) => `• ${escapeMrkdwn(note)}`);
  const blocks: KnownBlock[] = [
    { type: 'section', block_id: GATE_BLOCK.summary, text: { type: 'mrkdwn', text: `:warning: *${escapeInline(plan.title)}* — requested by ${mention(gate.requester)}` } },
    { type: 'section', block_id: GATE_BLOCK.facts, text: { type: 'mrkdwn', text: facts.join('\n') } },
    { type: 'section', block_id: GATE_BLOCK.steps, text: { type: 'mrkdwn', text: `*Steps*\n${steps.join('\n')}${notes.length ? `\n\n${notes.join('\n')}` : ''}` } },
    { type: 'context', block_id: GATE_BLOCK.state, elements: [{ type: 'mrkdwn', text: stateLine(gate) }] },
  ];
  const actions = gateActions(gate);
  if (actions) blocks.push(actions);
  return fitMessage({ text: `${escapeInline(plan.title)}: ${stateLine(gate).replace(/[*_]/g, '')}`, blocks });
}

function stateLine(gate: Gate): string {
  const approvals = `${gate.approvals.length} of ${gate.approvalsNeeded} approval${gate.approvalsNeeded === 1 ? '' : 's'}`;
  switch (gate.state) {
    case 'awaiting_confirmation':
      return `Nothing has run. Confirm by typing the system name; ${gate.approvalsNeeded > 0 ? `then ${gate.approvalsNeeded} approver${gate.approvalsNeeded === 1 ? '' : 's'} (not the requester) must approve` : 'no approval is needed'}. Expires ${gate.expiresAt}.`;
    case 'awaiting_approval':
      return `Confirmed by ${mention(gate.confirmedBy ?? 'someone')}. Waiting for approval (${approvals}, approvers only, not the requester). Expires ${gate.expiresAt}.`;
    case 'running':
      return `:hourglass_flowing_sand: Running — confirmed by ${mention(gate.confirmedBy ?? 'someone')}${gate.approvals.length ? `, approved by ${gate.approvals.map(mention).join(', ')}` : ''}. Progress in the thread.`;
    case 'finished':
      return `Ran as \`${gate.runId}\` — the result is in the thread.`;
    default:
      return `:no_entry: ${escapeInline(gate.closedReason ?? gate.state)} — nothing ran.`;
  }
}

function gateActions(gate: Gate): ActionsBlock | undefined {
  if (gate.state === 'awaiting_confirmation') {
    return {
      type: 'actions',
      block_id: GATE_BLOCK.actions,
      elements: [
        {
          type: 'button',
          action_id: GATE_ACTION.confirm,
          style: 'danger',
          text: { type: 'plain_text', text: 'Confirm…' },
          value: gate.id,
          confirm: {
            title: { type: 'plain_text', text: 'Change the live system?' },
            text: { type: 'mrkdwn', text: `${escapeInline(gate.plan.title)}. Next you type the system name.` },
            confirm: { type: 'plain_text', text: 'Continue' },
            deny: { type: 'plain_text', text: 'Back' },
            style: 'danger',
          },
        },
        { type: 'button', action_id: GATE_ACTION.cancel, text: { type: 'plain_text', text: 'Cancel' }, value: gate.id },
      ],
    };
  }
  if (gate.state === 'awaiting_approval') {
    return {
      type: 'actions',
      block_id: GATE_BLOCK.actions,
      elements: [
        {
          type: 'button',
          action_id: GATE_ACTION.approve,
          style: 'primary',
          text: { type: 'plain_text', text: 'Approve' },
          value: approvalValue(gate),
          // The last approval starts the run at once: one stray click must not change the live system.
          confirm: {
            title: { type: 'plain_text', text: 'Approve this plan?' },
            text: { type: 'mrkdwn', text: `${escapeInline(gate.plan.title)} (plan \`${gate.plan.hash.slice(0, 12)}\`). If yours is the last approval needed, it runs against the live system at once.` },
            confirm: { type: 'plain_text', text: 'Approve' },
            deny: { type: 'plain_text', text: 'Back' },
            style: 'danger',
          },
        },
        { type: 'button', action_id: GATE_ACTION.reject, style: 'danger', text: { type: 'plain_text', text: 'Reject' }, value: gate.id },
      ],
    };
  }
  return undefined;
}

/** The modal where the confirmer types the system name. */
export function confirmModal(gate: Gate, systemName: string): ModalView {
  return fitView<ModalView>({
    type: 'modal',
    callback_id: GATE_VIEW.confirm,
    private_metadata: gate.id,
    title: { type: 'plain_text', text: 'Confirm the plan' },
    submit: { type: 'plain_text', text: 'Confirm' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*${escapeInline(gate.plan.title)}*\nPlan hash \`${gate.plan.hash.slice(0, 12)}\`. ${gate.approvalsNeeded > 0 ? `After this, ${gate.approvalsNeeded} approver${gate.approvalsNeeded === 1 ? '' : 's'} must approve.` : 'It runs as soon as you confirm.'}` } },
      {
        type: 'input',
        block_id: GATE_VIEW.nameBlock,
        label: { type: 'plain_text', text: `Type ${visibleText(systemName)} to confirm` },
        element: { type: 'plain_text_input', action_id: GATE_VIEW.nameInput, placeholder: { type: 'plain_text', text: visibleText(systemName) } },
      },
    ],
  });
}

/** Offered under a destructive plan when no incident is open (DESIGN.md §8): one click opens the stakeholder thread. */
export function incidentOfferBlocks(gate: Gate): KnownBlock[] {
  return [
    {
      type: 'section',
      block_id: GATE_BLOCK.incidentOffer,
      text: { type: 'mrkdwn', text: 'No incident is open. Declare one so stakeholders follow this in one thread?' },
      accessory: { type: 'button', action_id: GATE_ACTION.declareIncident, text: { type: 'plain_text', text: 'Declare incident' }, value: gate.id },
    },
  ];
}
