import type { KnownBlock } from '@slack/types';
import { STATE_EMOJI, STATE_HEADLINE, type StatusReport } from '../../domain/status.ts';
import { escapeInline, escapeMrkdwn, visibleText } from '../../render/mrkdwn.ts';
import { fitMessage, type SlackMessage } from './limits.ts';
import { STATUS_BLOCK } from '../ids.ts';


/** Block Kit for `/dr status`: one section per component with its state, reason and probe time. */
export function statusBlocks(report: StatusReport): SlackMessage {
  const headline = `${STATE_EMOJI[report.overall]} ${visibleText(report.system)} is ${STATE_HEADLINE[report.overall]}`;
  const blocks: KnownBlock[] = [
    { type: 'header', block_id: STATUS_BLOCK.header, text: { type: 'plain_text', text: headline, emoji: true } },
    ...report.probes.map(
      (probe): KnownBlock => ({
        type: 'section',
        block_id: STATUS_BLOCK.probe(probe.id),
        text: {
          type: 'mrkdwn',
          text:
            `${STATE_EMOJI[probe.state]} *${escapeInline(probe.title)}* — ${escapeMrkdwn(probe.summary)} _(${probe.ms} ms)_` +
            probe.details.map((d) => `\n• ${escapeMrkdwn(d)}`).join(''),
        },
      }),
    ),
    { type: 'context', block_id: STATUS_BLOCK.footer, elements: [{ type: 'mrkdwn', text: `Checked <!date^${Math.floor(Date.parse(report.at) / 1000)}^{date_short_pretty} {time_secs}|${report.at}>` }] },
  ];
  return fitMessage({ text: `${STATE_EMOJI[report.overall]} ${escapeInline(report.system)} is ${STATE_HEADLINE[report.overall]}`, blocks });
}
