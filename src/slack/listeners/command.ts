import type { App, RespondFn, SlashCommand } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import { prepareCommand, recordRefusal, runPrepared, type DispatchDeps } from '../../commands/dispatch.ts';
import type { CommandOutcome, Invocation } from '../../commands/types.ts';
import { DrError } from '../../domain/errors.ts';
import { createWorkQueue } from '../../procedures/work-queue.ts';
import { errorBlocks } from '../render/error.ts';
import { outcomeBlocks } from '../render/outcome.ts';

// Outcomes everyone in the channel should see; the rest answer only the person who asked.
const POSTED_IN_CHANNEL = new Set(['status']);
// chat.postMessage errors that mean "use the response_url instead" (DMs, channels the bot is not in).
const NOT_POSTABLE = new Set(['not_in_channel', 'channel_not_found', 'is_archived']);

// Work after the ack shares the event loop with the acks of later commands. Concurrent status runs share
// one probe run, so the cap only matters for a flood; set low, it would serialize the sharing away.
const AFTER_ACK_CONCURRENCY = 64;

/** `/dr …`: ack at once (refusals in the ack itself), then run and answer. */
export function registerSlashCommand(app: App, deps: DispatchDeps): void {
  const afterAck = createWorkQueue(AFTER_ACK_CONCURRENCY);
  app.command('/dr', async ({ command, ack, respond, client }) => {
    const invocation: Invocation = { source: 'slack', actor: command.user_id, channel: command.channel_id, text: command.text ?? '' };
    const prepared = prepareCommand(deps, invocation);
    if (!prepared.ok) {
      await ack({ response_type: 'ephemeral', ...errorBlocks(prepared.error) });
      await recordRefusal(deps, invocation, prepared);
      return;
    }
    await ack();
    // Yield to the event loop's I/O phase first, so requests already waiting get parsed and acked before this work.
    await new Promise((resolve) => setImmediate(resolve));
    // Only the run is queued: a delivery stuck in Slack retries must not hold up other commands.
    const result = await afterAck.run(() => runPrepared(deps, invocation, prepared));
    try {
      await deliver(result, prepared.name, client, respond, command);
    } catch (error) {
      deps.logger.error({ err: error, command: prepared.name }, 'could not deliver the answer to Slack');
    }
  });
}

// Reports already posted, per channel: concurrent `/dr status` calls share one report (single flight), and
// posting the same report into the same channel fifty times would only bury it (and meet Slack's rate limit).
const postedReports = new WeakMap<object, Map<string, Promise<boolean>>>();

async function deliver(result: CommandOutcome | DrError, name: string, client: WebClient, respond: RespondFn, command: SlashCommand): Promise<void> {
  if (result instanceof DrError) return void (await respond({ response_type: 'ephemeral', ...errorBlocks(result) }));
  if (!POSTED_IN_CHANNEL.has(name)) return void (await respond({ response_type: 'ephemeral', ...outcomeBlocks(result) }));
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

async function postInChannel(client: WebClient, respond: RespondFn, command: SlashCommand, message: ReturnType<typeof outcomeBlocks>): Promise<void> {
  try {
    await client.chat.postMessage({ channel: command.channel_id, ...message });
  } catch (error) {
    const code = (error as { data?: { error?: string } }).data?.error;
    if (!code || !NOT_POSTABLE.has(code)) throw error;
    await respond({ response_type: 'in_channel', ...message });
  }
}
