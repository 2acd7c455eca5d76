import type { KnownBlock } from '@slack/types';
import type { AuditEntry, ChainVerdict } from '../../domain/audit.ts';
import { HISTORY_BLOCK } from '../ids.ts';
import { escapeInline } from '../../render/mrkdwn.ts';
import { fitMessage, type SlackMessage } from './limits.ts';

/** Block Kit for `/dr history`: newest rows last, and the chain verdict when asked for. */
export function historyBlocks(entries: readonly AuditEntry[], verdict: ChainVerdict | undefined): SlackMessage {
  const rows = entries.map((e) => `\`#${e.id}\` ${e.at.slice(0, 19).replace('T', ' ')} · ${escapeInline(e.actor)} · \`${escapeInline(e.text.slice(0, 60))}\` → ${escapeInline(e.outcome)}`);
  const blocks: KnownBlock[] = [
    { type: 'section', block_id: HISTORY_BLOCK.list, text: { type: 'mrkdwn', text: rows.join('\n') || 'No actions recorded yet.' } },
  ];
  if (verdict) {
    const text = verdict.ok
      ? `✅ Chain intact: ${verdict.checked} rows verified.`
      : `❌ Chain broken at row #${verdict.badId}: ${escapeInline(verdict.reason)}. ${verdict.checked} rows before it verified.`;
    blocks.push({ type: 'section', block_id: HISTORY_BLOCK.verdict, text: { type: 'mrkdwn', text } });
  }
  return fitMessage({ text: `Last ${entries.length} actions`, blocks });
}
