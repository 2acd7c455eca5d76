import type { WebClient } from '@slack/web-api';
import type { ProgressUpdate } from '../commands/types.ts';
import { progressBlocks } from './render/progress.ts';

// chat.update is rate-limited per channel; one edit every few seconds reads as live and stays well inside it.
const MIN_UPDATE_INTERVAL_MS = 3_000;

/** One channel message for a long command: posted at start, edited with progress, finally replaced by the result. */
export interface ProgressMessage {
  report(update: ProgressUpdate): void;
  /** Replaces the message with the result; false when there was no message to replace (the caller answers another way). */
  finish(message: { text: string; blocks: unknown[] }): Promise<boolean>;
}

/** Posts the starting message; if the bot cannot post in the channel, progress is silently dropped and finish() says so. */
export async function startProgressMessage(
  client: WebClient,
  channel: string,
  command: string,
  actor: string,
  options: { now?: () => number; intervalMs?: number } = {},
): Promise<ProgressMessage> {
  const now = options.now ?? Date.now;
  const interval = options.intervalMs ?? MIN_UPDATE_INTERVAL_MS;
  const started = now();
  const ts = await client.chat
    .postMessage({ channel, ...progressBlocks(command, actor, undefined, 0) })
    .then((answer) => answer.ts)
    .catch(() => undefined);
  let latest: ProgressUpdate | undefined;
  // When the current byte count began: each kind of a `backup all` counts from zero again.
  let countingSince = started;
  let lastEdit = started;
  let pending: NodeJS.Timeout | undefined;
  let editing: Promise<unknown> = Promise.resolve();
  const edit = () => {
    pending = undefined;
    lastEdit = now();
    editing = editing.then(() => client.chat.update({ channel, ts: ts!, ...progressBlocks(command, actor, latest, now() - started, now() - countingSince) }).catch(() => {}));
  };
  return {
    report(update) {
      if (latest && update.bytesDone < latest.bytesDone) countingSince = now();
      latest = update;
      if (!ts || pending) return;
      pending = setTimeout(edit, Math.max(0, interval - (now() - lastEdit)));
    },
    async finish(message) {
      clearTimeout(pending);
      await editing;
      if (!ts) return false;
      await client.chat.update({ channel, ts, text: message.text, blocks: message.blocks as never });
      return true;
    },
  };
}
