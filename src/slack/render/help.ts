import type { KnownBlock } from '@slack/types';
import type { HelpEntry } from '../../commands/types.ts';
import { HELP_BLOCK } from '../ids.ts';
import { fitMessage, type SlackMessage } from './limits.ts';

const RISK_LABEL = { read: 'read', operate: 'operate', destructive: 'destructive · confirm + approve' } as const;

/** Block Kit for `/dr help`: the whole grammar, with commands not built yet marked. */
export function helpBlocks(entries: readonly HelpEntry[]): SlackMessage {
  const lines = entries.map((e) => `\`/dr ${e.usage}\` — ${e.summary} _(${RISK_LABEL[e.risk]})_${e.built ? '' : ' · _not built yet_'}`);
  return fitMessage({
    text: '/dr commands',
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: '/dr — disaster recovery for Alphha DMS' } },
      { type: 'section', block_id: HELP_BLOCK.list, text: { type: 'mrkdwn', text: lines.join('\n') } },
    ],
  });
}
