import type { KnownBlock } from '@slack/types';
import type { DrError } from '../../domain/errors.ts';
import { errorLines } from '../../render/error.ts';
import { ERROR_BLOCK } from '../ids.ts';
import { escapeMrkdwn } from '../../render/mrkdwn.ts';
import { fitMessage, type SlackMessage } from './limits.ts';

/** Block Kit for a refused or failed command (shown ephemerally). */
export function errorBlocks(error: DrError): SlackMessage {
  const { message, suggestion } = errorLines(error);
  // A DrError's message is plain text (the terminal prints it too): escaped here, the fallback text as well.
  const text = escapeMrkdwn(`⚠️ ${message}${suggestion ? `\n${suggestion}` : ''}`);
  const blocks: KnownBlock[] = [{ type: 'section', block_id: ERROR_BLOCK.message, text: { type: 'mrkdwn', text } }];
  return fitMessage({ text, blocks });
}
