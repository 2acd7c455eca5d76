import type { KnownBlock } from '@slack/types';
import type { ProgressUpdate } from '../../commands/types.ts';
import { formatDuration } from '../../config/duration.ts';
import { formatBytes } from '../../domain/format.ts';
import { PROGRESS_BLOCK } from '../ids.ts';
import { escapeInline, mention } from '../../render/mrkdwn.ts';
import { fitMessage, type SlackMessage } from './limits.ts';

/**
 * Block Kit for a running command: what it is doing, bytes so far, rate and time left when the total is known.
 * `countingMs` is how long the current byte count has been running (a `backup all` restarts it per kind).
 */
export function progressBlocks(command: string, actor: string, update: ProgressUpdate | undefined, elapsedMs: number, countingMs = elapsedMs): SlackMessage {
  const head = `⏳ \`/dr ${escapeInline(command)}\` started by ${mention(actor)} — ${formatDuration(elapsedMs)} so far`;
  let line = 'starting…';
  if (update) {
    const rate = countingMs > 0 ? update.bytesDone / (countingMs / 1000) : 0;
    const total = update.bytesTotal;
    const percent = total ? ` of ${formatBytes(total)} (${Math.floor((100 * update.bytesDone) / Math.max(1, total))} %)` : '';
    const eta = total && rate > 0 && total > update.bytesDone ? `, about ${formatDuration(((total - update.bytesDone) / rate) * 1000)} left` : '';
    // A step that moves no bytes (a run's database restore, say) is shown by its name alone, not as "0 B at 0 B/s".
    line = update.bytesDone === 0 && total === undefined ? escapeInline(update.step) : `${escapeInline(update.step)}: ${formatBytes(update.bytesDone)}${percent} at ${formatBytes(rate)}/s${eta}`;
  }
  const blocks: KnownBlock[] = [{ type: 'section', block_id: PROGRESS_BLOCK.status, text: { type: 'mrkdwn', text: `${head}\n${line}` } }];
  return fitMessage({ text: `/dr ${escapeInline(command)} running`, blocks });
}
