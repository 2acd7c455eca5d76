import type { KnownBlock } from '@slack/types';
import type { CommandOutcome } from '../../commands/types.ts';
import { AUDIT_BLOCK } from '../ids.ts';
import { fitMessage, type SlackMessage } from './limits.ts';

/** Block Kit for an audit export: how many rows and which time range; the CSV travels as a file. */
export function auditBlocks(outcome: Extract<CommandOutcome, { kind: 'audit' }>): SlackMessage {
  const text = `🧾 ${outcome.rowCount} audit_ledger rows from ${outcome.from} to ${outcome.until}`;
  const blocks: KnownBlock[] = [{ type: 'section', block_id: AUDIT_BLOCK.summary, text: { type: 'mrkdwn', text } }];
  return fitMessage({ text, blocks });
}

/** File name of an audit export, e.g. `audit_ledger_2026-11-25T03-00-00Z_2026-11-26T03-00-00Z.csv`. */
export function auditFileName(outcome: Extract<CommandOutcome, { kind: 'audit' }>): string {
  const stamp = (iso: string) => iso.slice(0, 19).replace(/:/g, '-') + 'Z';
  return `audit_ledger_${stamp(outcome.from)}_${stamp(outcome.until)}.csv`;
}
