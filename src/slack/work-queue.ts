/** Runs at most `limit` jobs at once, the rest in arrival order: keeps a burst of commands from starving Slack acks. */
export function createWorkQueue(limit: number): { run<T>(job: () => Promise<T>): Promise<T>; pending(): number } {
  let active = 0;
  const waiting: Array<() => void> = [];
  const release = () => {
    active -= 1;
    waiting.shift()?.();
  };
  return {
    async run<T>(job: () => Promise<T>): Promise<T> {
      if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
      active += 1;
      try {
        return await job();
      } finally {
        release();
      }
    },
    pending: () => waiting.length,
  };
}
