import type { KnownBlock, MrkdwnOption } from '@slack/types';
import { RECOVERY_CHECKLIST, type Incident } from '../../domain/incident.ts';
import { CHECKLIST_ACTION, CHECKLIST_BLOCK } from '../ids.ts';
import { escapeInline, visibleText } from '../../render/mrkdwn.ts';
import { fitMessage, type SlackMessage } from './limits.ts';

/** The runbook §7 checklist of an incident as checkboxes, ticked where done, saying who ticked each. */
export function checklistBlocks(incident: Incident): SlackMessage {
  const done = incident.checklist ?? {};
  const phases = [...new Set(RECOVERY_CHECKLIST.map((item) => item.phase))];
  const count = RECOVERY_CHECKLIST.filter((item) => done[item.id]).length;
  const blocks: KnownBlock[] = [
    { type: 'section', block_id: CHECKLIST_BLOCK.head, text: { type: 'mrkdwn', text: `📋 *Recovery checklist* — incident \`${incident.id}\`: ${escapeInline(incident.title)} (${count} of ${RECOVERY_CHECKLIST.length} done)` } },
  ];
  for (const phase of phases) {
    const options: MrkdwnOption[] = RECOVERY_CHECKLIST.filter((item) => item.phase === phase).map((item): MrkdwnOption => {
      const tick = done[item.id];
      // Option descriptions are plain text: the ticker is named by id (a mention would not render there).
      const description = tick ? (tick.by === 'dr-bot' ? `done by dr-bot at ${tick.at}` : `ticked by ${visibleText(tick.by)} at ${tick.at}`) : undefined;
      return { text: { type: 'mrkdwn', text: item.text }, value: item.id, ...(description ? { description: { type: 'plain_text', text: description } } : {}) };
    });
    const ticked = options.filter((option) => done[option.value as string]);
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*${phase}*` } });
    blocks.push({
      type: 'actions',
      block_id: CHECKLIST_BLOCK.phase(phase),
      elements: [{ type: 'checkboxes', action_id: CHECKLIST_ACTION.toggle, options, ...(ticked.length ? { initial_options: ticked } : {}) }],
    });
  }
  return fitMessage({ text: `Recovery checklist: ${count} of ${RECOVERY_CHECKLIST.length} done`, blocks });
}
