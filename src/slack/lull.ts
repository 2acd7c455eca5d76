/** Tells after-ack work when incoming commands have paused, so a burst's acks are not queued behind its work. */
export interface Lull {
  /** Notes that a command has just arrived (call before acking it). */
  arrived(): void;
  /** Resolves once no command has arrived for `quietMs`, or after `maxWaitMs` at the latest. */
  settled(): Promise<void>;
  /** Waiters still held back. */
  waiting(): number;
}

/**
 * Acks first: Slack gives each request 3 s and retries the late ones, while the answers that follow an ack have
 * no deadline. During a burst the work waits for a pause (bounded by `maxWaitMs`, so a steady stream cannot
 * starve it); a lone command waits only `quietMs`. Waiting also lets concurrent `/dr status` calls share one run.
 */
export function createLull(options: { quietMs: number; maxWaitMs: number; now?: () => number }): Lull {
  const now = options.now ?? (() => performance.now());
  let lastArrival = Number.NEGATIVE_INFINITY;
  let waiters: Array<{ deadline: number; release: () => void }> = [];
  let timer: NodeJS.Timeout | undefined;

  const check = (): void => {
    timer = undefined;
    const at = now();
    const quiet = at - lastArrival >= options.quietMs;
    const still: typeof waiters = [];
    for (const waiter of waiters) (quiet || at >= waiter.deadline ? waiter.release() : still.push(waiter));
    waiters = still;
    arm();
  };
  // One timer for all waiters, due at the earlier of the end of the quiet period and the first deadline.
  const arm = (): void => {
    if (timer || waiters.length === 0) return;
    const due = Math.min(lastArrival + options.quietMs, ...waiters.map((w) => w.deadline));
    timer = setTimeout(check, Math.max(0, due - now()));
  };

  return {
    arrived() {
      lastArrival = now();
    },
    settled() {
      if (now() - lastArrival >= options.quietMs) return Promise.resolve();
      return new Promise<void>((release) => {
        waiters.push({ deadline: now() + options.maxWaitMs, release });
        arm();
      });
    },
    waiting: () => waiters.length,
  };
}
