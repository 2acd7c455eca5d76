import type { KnownBlock } from '@slack/types';
import type { DrError } from '../../domain/errors.ts';
import { errorLines } from '../../render/error.ts';
import { ERROR_BLOCK } from '../ids.ts';
import { escapeMrkdwn } from '../../render/mrkdwn.ts';

/** Block Kit for a refused or failed command (shown ephemerally). */
export function errorBlocks(error: DrError): { text: string; blocks: KnownBlock[] } {
  const { message, suggestion } = errorLines(error);
  const text = `⚠️ ${message}${suggestion ? `\n${suggestion}` : ''}`;
  return { text, blocks: [{ type: 'section', block_id: ERROR_BLOCK.message, text: { type: 'mrkdwn', text: escapeMrkdwn(text) } }] };
}
