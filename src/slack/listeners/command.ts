import type { App } from '@slack/bolt';
import { prepareCommand, recordRefusal, runPrepared, type DispatchDeps } from '../../commands/dispatch.ts';
import type { Invocation } from '../../commands/types.ts';
import { createWorkQueue } from '../work-queue.ts';
import { createLull } from '../lull.ts';
import { deliverAnswer } from '../deliver.ts';
import { startProgressMessage } from '../progress-message.ts';
import { errorBlocks } from '../render/error.ts';
import { outcomeBlocks } from '../render/outcome.ts';
import { postGate } from './gate.ts';
import { rememberChecklistMessage } from '../../procedures/incidents.ts';
import { DrError, errorText } from '../../domain/errors.ts';

// Work after the ack shares the event loop with the acks of later commands. Concurrent status runs share
// one probe run, so the cap only matters for a flood; set low, it would serialize the sharing away.
const AFTER_ACK_CONCURRENCY = 64;
// Work after an ack starts once commands pause for this long, and never waits longer than the cap: a burst is
// acked first, then answered (one shared status run instead of one per command).
const LULL_QUIET_MS = 20;
const LULL_MAX_WAIT_MS = 1_000;

/** `/dr …`: ack at once (refusals in the ack itself), then run and answer. */
export function registerSlashCommand(app: App, deps: DispatchDeps): void {
  const afterAck = createWorkQueue(AFTER_ACK_CONCURRENCY);
  const lull = createLull({ quietMs: LULL_QUIET_MS, maxWaitMs: LULL_MAX_WAIT_MS });
  app.command('/dr', async ({ command, ack, respond, client }) => {
    lull.arrived();
    const invocation: Invocation = { source: 'slack', actor: command.user_id, channel: command.channel_id, text: command.text ?? '' };
    const prepared = await prepareCommand(deps, invocation);
    if (!prepared.ok) {
      await ack({ response_type: 'ephemeral', ...errorBlocks(prepared.error) });
      await recordRefusal(deps, invocation, prepared);
      return;
    }
    await ack();
    await lull.settled();
    const progress = prepared.parsed.definition.reportsProgress ? await startProgressMessage(client, command.channel_id, invocation.text.trim(), command.user_id) : undefined;
    if (progress) invocation.progress = (update) => progress.report(update);
    // Only the run is queued: a delivery stuck in Slack retries must not hold up other commands.
    const result = await afterAck.run(() => runPrepared(deps, invocation, prepared));
    if (!(result instanceof DrError) && result.kind === 'plan') {
      // Everyone in the channel sees a destructive plan, and its buttons act on the gate it belongs to.
      await postGate(client, result.gate, deps).catch(async (error: unknown) => {
        deps.logger.warn({ err: errorText(error), gate: result.gate.id }, 'plan not posted in the channel; answering the requester instead');
        await respond({ response_type: 'ephemeral', ...outcomeBlocks(result) });
      });
      return;
    }
    if (!(result instanceof DrError) && result.kind === 'checklist') {
      // In the channel, remembered: the bot's own steps tick it in place later.
      try {
        const posted = await client.chat.postMessage({ channel: command.channel_id, ...outcomeBlocks(result) });
        if (posted.ts) await rememberChecklistMessage(deps.incidents, result.incident.id, { channel: command.channel_id, ts: posted.ts });
      } catch (error) {
        deps.logger.warn({ err: errorText(error) }, 'checklist not posted in the channel; answering the requester instead');
        await respond({ response_type: 'ephemeral', ...outcomeBlocks(result) });
      }
      return;
    }
    await deliverAnswer(result, client, respond, command, progress).catch((error: unknown) => {
      deps.logger.error({ err: error, command: prepared.name }, 'could not deliver the answer to Slack');
    });
  });
}
