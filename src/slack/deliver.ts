import type { RespondFn, SlashCommand } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import type { CommandOutcome } from '../commands/types.ts';
import { DrError } from '../domain/errors.ts';
import { errorBlocks } from './render/error.ts';
import { outcomeBlocks } from './render/outcome.ts';
import { auditBlocks, auditFileName } from './render/audit.ts';
import { LISTED_PROBLEMS } from './render/checksums.ts';
import { stringify } from 'csv-stringify/sync';
import type { ProgressMessage } from './progress-message.ts';

// Outcomes everyone in the channel should see; the rest answer only the person who asked.
const POSTED_IN_CHANNEL = new Set<CommandOutcome['kind']>(['status']);
// chat.postMessage errors that mean "use the response_url instead" (DMs, channels the bot is not in).
const NOT_POSTABLE = new Set(['not_in_channel', 'channel_not_found', 'is_archived']);

// Reports already posted, per channel: concurrent `/dr status` calls share one report (single flight), and
// posting the same report into the same channel fifty times would only bury it (and meet Slack's rate limit).
const postedReports = new WeakMap<object, Map<string, Promise<boolean>>>();

/** Answers a slash command: a long command's progress message becomes its result; errors and personal results go ephemerally; status in the channel (once per shared report). */
export async function deliverAnswer(result: CommandOutcome | DrError, client: WebClient, respond: RespondFn, command: SlashCommand, progress?: ProgressMessage): Promise<void> {
  const message = result instanceof DrError ? errorBlocks(result) : outcomeBlocks(result);
  if (!(result instanceof DrError) && result.kind === 'checksums' && result.report.problems.length > LISTED_PROBLEMS) {
    const csv = stringify(result.report.problems, { header: true, columns: ['id', 'path', 'expected', 'actual'] });
    await client.filesUploadV2({ channel_id: command.channel_id, filename: 'checksum-problems.csv', title: 'checksum problems', content: csv, initial_comment: message.text }).catch(() => {});
  }
  if (progress && (await progress.finish(message))) return;
  if (result instanceof DrError) return void (await respond({ response_type: 'ephemeral', ...errorBlocks(result) }));
  if (result.kind === 'audit') return uploadAudit(result, client, respond, command);
  if (!POSTED_IN_CHANNEL.has(result.kind)) return void (await respond({ response_type: 'ephemeral', ...outcomeBlocks(result) }));
  const shared = result.kind === 'status' ? result.report : undefined;
  if (!shared) return postInChannel(client, respond, command, outcomeBlocks(result));
  const posts = postedReports.get(shared) ?? new Map<string, Promise<boolean>>();
  postedReports.set(shared, posts);
  const earlier = posts.get(command.channel_id);
  if (earlier && (await earlier)) return;
  const attempt = postInChannel(client, respond, command, outcomeBlocks(result));
  posts.set(command.channel_id, attempt.then(() => true, () => false));
  await attempt;
}

// The CSV goes into the channel where it was asked for (files.uploadV2); if the bot cannot post there, the
// asker gets the summary and the reason, never a silently missing file.
async function uploadAudit(result: Extract<CommandOutcome, { kind: 'audit' }>, client: WebClient, respond: RespondFn, command: SlashCommand): Promise<void> {
  const summary = auditBlocks(result);
  try {
    await client.filesUploadV2({ channel_id: command.channel_id, filename: auditFileName(result), title: auditFileName(result), content: result.csv, initial_comment: summary.text });
  } catch (error) {
    const code = (error as { data?: { error?: string } }).data?.error ?? (error as Error).message;
    await respond({ response_type: 'ephemeral', text: `${summary.text}, but the CSV could not be uploaded here (${code}). Run \`npx dr audit\` on a terminal for the same export.` });
  }
}

async function postInChannel(client: WebClient, respond: RespondFn, command: SlashCommand, message: ReturnType<typeof outcomeBlocks>): Promise<void> {
  try {
    await client.chat.postMessage({ channel: command.channel_id, ...message });
  } catch (error) {
    const code = (error as { data?: { error?: string } }).data?.error;
    if (!code || !NOT_POSTABLE.has(code)) throw error;
    await respond({ response_type: 'in_channel', ...message });
  }
}
