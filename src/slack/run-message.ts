import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import type { Run } from '../domain/run.ts';
import { errorText } from '../domain/errors.ts';
import { runBlocks } from './render/run.ts';

// chat.update is rate-limited per channel: a step that takes a second must not cost an edit each time.
const MIN_EDIT_INTERVAL_MS = 2_000;

/** The checklist message of one run, in the plan's thread: posted at the start, edited in place, final on finish. */
export interface RunMessage {
  /** The engine's observer: remembers the newest state and schedules an edit. */
  observe(run: Run): void;
  /** Writes the final state; resolves once Slack has it (or gave up). */
  flush(): Promise<void>;
}

/** Starts a checklist message for a run; Slack failures are logged, never thrown into the run. */
export function startRunMessage(client: WebClient, channel: string, threadTs: string | undefined, logger: Logger, intervalMs = MIN_EDIT_INTERVAL_MS): RunMessage {
  let latest: Run | undefined;
  let posted = false;
  let ts: Promise<string | undefined> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> = Promise.resolve();
  const write = () => {
    timer = undefined;
    const run = latest!;
    writing = writing.then(async () => {
      try {
        const message = runBlocks(run, new Date());
        if (!ts) {
          ts = client.chat
            .postMessage({ channel, ...(threadTs ? { thread_ts: threadTs, reply_broadcast: false } : {}), ...message })
            .then((answer) => answer.ts, () => undefined);
          await ts;
          return;
        }
        const messageTs = await ts;
        if (messageTs) await client.chat.update({ channel, ts: messageTs, ...message });
      } catch (error) {
        logger.warn({ run: run.id, err: errorText(error) }, 'run checklist not updated in Slack');
      }
    });
  };
  return {
    observe(run) {
      latest = run;
      if (!posted) {
        posted = true;
        return write();
      }
      timer ??= setTimeout(write, intervalMs);
    },
    async flush() {
      if (timer) {
        clearTimeout(timer);
        write();
      } else if (latest) {
        write();
      }
      await writing;
    },
  };
}
