import { formatDuration } from '../config/duration.ts';
import { DrError } from '../domain/errors.ts';

/** Runs `work` with its own deadline: the signal aborts at `ms`, and the promise rejects then even if `work` ignores the signal. */
export async function withDeadline<T>(ms: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new DrError('PROBE_FAILED', `no answer within ${ms} ms`);
      controller.abort(error);
      reject(error);
    }, ms);
  });
  try {
    return await Promise.race([work(controller.signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** `withDeadline` for a backup job: past the deadline it fails as BACKUP_FAILED saying what was stopped and when. */
export async function withJobDeadline<T>(ms: number, what: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  try {
    return await withDeadline(ms, work);
  } catch (error) {
    if (error instanceof DrError && error.code === 'PROBE_FAILED') {
      throw new DrError('BACKUP_FAILED', `${what} did not finish within ${formatDuration(ms)} and was stopped`, { cause: error });
    }
    throw error;
  }
}
