import { DrError } from '../domain/errors.ts';

/**
 * Wraps a probe whose work cannot be cancelled (a statfs on a hung NFS mount sits in libuv's small thread
 * pool until the kernel answers): while an earlier call is still running, later calls fail at once
 * instead of piling up and exhausting the pool that every other probe (and DNS) needs.
 */
export function guardStuck<T>(label: string, work: (signal: AbortSignal) => Promise<T>, now: () => number = Date.now): (signal: AbortSignal) => Promise<T> {
  let runningSince: number | undefined;
  return async (signal) => {
    if (runningSince !== undefined) {
      throw new DrError('PROBE_FAILED', `the previous ${label} probe has not returned for ${Math.round((now() - runningSince) / 1000)} s (hung mount?)`);
    }
    runningSince = now();
    try {
      return await work(signal);
    } finally {
      runningSince = undefined;
    }
  };
}
