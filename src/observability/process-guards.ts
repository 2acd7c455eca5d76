import type { Logger } from 'pino';
import { errorText } from '../domain/errors.ts';

// Errors after which the process cannot do its job (it lost its listener, or its memory): better restarted by
// its supervisor than limping on.
const FATAL_CODES = new Set(['EADDRINUSE', 'EADDRNOTAVAIL', 'EACCES', 'ENOMEM', 'ERR_WORKER_OUT_OF_MEMORY']);
// This many uncaught exceptions within the window means something keeps breaking: restart cleanly instead.
const STORM_COUNT = 20;
const STORM_WINDOW_MS = 60_000;

/** What the guards act on: a process (or a stand-in in tests). */
export interface GuardedProcess {
  on(event: 'unhandledRejection', listener: (reason: unknown) => void): unknown;
  on(event: 'uncaughtException', listener: (error: Error) => void): unknown;
}

/** How the guards end the process on a fatal error: a line on stderr, then exit. */
export interface FatalExit {
  (message: string, code: number): void;
}

/** Exit status for a fatal internal error (sysexits' EX_SOFTWARE), distinct from start-up refusals (2). */
export const FATAL_EXIT_CODE = 70;

/**
 * The process-level policy (issue: one signed request killed the bot): a promise nobody awaited that rejects, or
 * an exception nobody caught, is logged with its stack and the bot keeps serving — one bad request or one failed
 * background task must not take the incident bot down mid-incident. Only a truly fatal error (the listener or
 * memory is lost, or exceptions keep coming: STORM_COUNT within a minute) ends the process, with a clear message
 * and exit status 70 so its supervisor restarts it.
 */
export function installProcessGuards(target: GuardedProcess, logger: Logger, exit: FatalExit, now: () => number = Date.now): void {
  const recent: number[] = [];
  target.on('unhandledRejection', (reason) => {
    logger.error({ err: describe(reason) }, 'unhandled promise rejection; the bot keeps serving');
  });
  target.on('uncaughtException', (error) => {
    const at = now();
    recent.push(at);
    while (recent.length > 0 && recent[0]! < at - STORM_WINDOW_MS) recent.shift();
    const code = (error as { code?: unknown }).code;
    const fatal = typeof code === 'string' && FATAL_CODES.has(code);
    if (!fatal && recent.length < STORM_COUNT) {
      logger.error({ err: describe(error) }, 'uncaught exception; the bot keeps serving');
      return;
    }
    const why = fatal ? `fatal error ${code}: ${errorText(error)}` : `${recent.length} uncaught exceptions within ${STORM_WINDOW_MS / 1000} s, the last: ${errorText(error)}`;
    logger.fatal({ err: describe(error) }, `exiting: ${why}`);
    exit(`dr-bot: exiting: ${why}. Its supervisor should restart it.\n`, FATAL_EXIT_CODE);
  });
}

// Message and stack for the log; a rejection with a non-Error value is shown as it is.
function describe(value: unknown): { message: string; stack?: string } {
  if (value instanceof Error) return { message: errorText(value), ...(value.stack ? { stack: value.stack } : {}) };
  return { message: String(value) };
}
