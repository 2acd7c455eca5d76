import type { App, RespondFn, SlashCommand } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import { prepareCommand, recordRefusal, runPrepared, type DispatchDeps } from '../../commands/dispatch.ts';
import type { Invocation } from '../../commands/types.ts';
import { DrError } from '../../domain/errors.ts';
import { errorBlocks } from '../render/error.ts';
import { outcomeBlocks } from '../render/outcome.ts';

// Outcomes everyone in the channel should see; the rest answer only the person who asked.
const POSTED_IN_CHANNEL = new Set(['status']);
// chat.postMessage errors that mean "use the response_url instead" (DMs, channels the bot is not in).
const NOT_POSTABLE = new Set(['not_in_channel', 'channel_not_found', 'is_archived']);

/** `/dr …`: ack at once (refusals in the ack itself), then run and answer. */
export function registerSlashCommand(app: App, deps: DispatchDeps): void {
  app.command('/dr', async ({ command, ack, respond, client }) => {
    const invocation: Invocation = { source: 'slack', actor: command.user_id, channel: command.channel_id, text: command.text ?? '' };
    const prepared = prepareCommand(deps, invocation);
    if (!prepared.ok) {
      await ack({ response_type: 'ephemeral', ...errorBlocks(prepared.error) });
      await recordRefusal(deps, invocation, prepared);
      return;
    }
    await ack();
    const result = await runPrepared(deps, invocation, prepared);
    try {
      if (result instanceof DrError) {
        await respond({ response_type: 'ephemeral', ...errorBlocks(result) });
      } else if (POSTED_IN_CHANNEL.has(prepared.name)) {
        await postInChannel(client, respond, command, outcomeBlocks(result));
      } else {
        await respond({ response_type: 'ephemeral', ...outcomeBlocks(result) });
      }
    } catch (error) {
      deps.logger.error({ err: error, command: prepared.name }, 'could not deliver the answer to Slack');
    }
  });
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
