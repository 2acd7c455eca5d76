import type { KnownBlock } from '@slack/types';
import { STATE_EMOJI, STATE_HEADLINE, type StatusReport } from '../../domain/status.ts';
import { escapeMrkdwn } from '../../render/mrkdwn.ts';
import { STATUS_BLOCK } from '../ids.ts';


/** Block Kit for `/dr status`: one section per component with its state, reason and probe time. */
export function statusBlocks(report: StatusReport): { text: string; blocks: KnownBlock[] } {
  const text = `${STATE_EMOJI[report.overall]} ${report.system} is ${STATE_HEADLINE[report.overall]}`;
  const blocks: KnownBlock[] = [
    { type: 'header', block_id: STATUS_BLOCK.header, text: { type: 'plain_text', text: text.slice(0, 150), emoji: true } },
    ...report.probes.map(
      (probe): KnownBlock => ({
        type: 'section',
        block_id: STATUS_BLOCK.probe(probe.id),
        text: {
          type: 'mrkdwn',
          text: clip(
            `${STATE_EMOJI[probe.state]} *${probe.title}* — ${escapeMrkdwn(probe.summary)} _(${probe.ms} ms)_` +
              probe.details.map((d) => `\n• ${escapeMrkdwn(d)}`).join(''),
          ),
        },
      }),
    ),
    { type: 'context', block_id: STATUS_BLOCK.footer, elements: [{ type: 'mrkdwn', text: `Checked <!date^${Math.floor(Date.parse(report.at) / 1000)}^{date_short_pretty} {time_secs}|${report.at}>` }] },
  ];
  return { text, blocks };
}

// A section's text may hold at most 3000 characters.
function clip(text: string): string {
  return text.length > 3000 ? `${text.slice(0, 2990)}…` : text;
}
