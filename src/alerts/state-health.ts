import type { Logger } from 'pino';
import { errorText } from '../domain/errors.ts';
import { withDeadline } from '../procedures/deadline.ts';
import type { StateStore } from '../ports/state-store.ts';

/** The state store's health as last seen by the monitor. */
export interface StateHealth {
  healthy: boolean;
  /** Why it is unhealthy (a file deleted, a failed check, a write that cannot commit). */
  reason?: string;
  /** When the current verdict began (ISO time). */
  since: string;
  /** When the last check finished (ISO time). */
  checkedAt?: string;
}

/** What the monitor needs: the store, who this process is, and a way to the critical channel that does not go through the store. */
export interface StateHealthDeps {
  store: StateStore;
  owner: string;
  /**
   * Tells the critical channel (a direct Slack post with its own retries: the durable outbox lives in the
   * store that is broken). Rejects when it could not be delivered.
   */
  notify: (text: string) => Promise<void>;
  systemName: string;
  logger: Logger;
  now: () => Date;
  /** How often the store is checked (quick check and a write). */
  intervalMs?: number;
  /** How often the check is the full `integrity_check` rather than `quick_check`. */
  fullEveryMs?: number;
  /** How long one check may take before the store counts as not answering. */
  checkTimeoutMs?: number;
}

/** A running monitor. */
export interface StateHealthMonitor {
  current(): StateHealth;
  /** Checks now (also called on a fault seen by any query); resolves with the verdict. */
  checkNow(options?: { full?: boolean }): Promise<StateHealth>;
  stop(): Promise<void>;
}

// Well inside the 60 s in which an operator must hear of a broken store.
const DEFAULT_INTERVAL_MS = 15_000;
const DEFAULT_FULL_EVERY_MS = 60 * 60_000;
// Longer than SQLite's busy_timeout (5 s): a store locked briefly by another process is waited for, not reported.
const DEFAULT_CHECK_TIMEOUT_MS = 12_000;
// A notification that could not be delivered is tried again this often while its verdict stands.
const NOTIFY_RETRY_MS = 10_000;

/**
 * Watches the bot's own state store: every `intervalMs` it runs the store's health check (the file is still
 * the one opened, SQLite's own check passes, a write commits), and a query failing with a fault wakes it at
 * once. A change of verdict is logged and told to the critical channel directly, never through the store.
 */
export function startStateHealthMonitor(deps: StateHealthDeps): StateHealthMonitor {
  const interval = deps.intervalMs ?? DEFAULT_INTERVAL_MS;
  const fullEvery = deps.fullEveryMs ?? DEFAULT_FULL_EVERY_MS;
  const timeout = deps.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  let state: StateHealth = { healthy: true, since: deps.now().toISOString() };
  let lastFull = deps.now().getTime();
  let running: Promise<StateHealth> | undefined;
  let again: { full: boolean } | undefined;
  let stopped = false;
  // The verdict the critical channel has heard last; a failed post is retried until it matches `state`.
  let told: boolean = true;
  let telling: Promise<void> | undefined;

  const check = async (full: boolean): Promise<StateHealth> => {
    let reason: string | undefined;
    try {
      await withDeadline(timeout, () => deps.store.checkHealth({ owner: deps.owner, full }));
      if (full) lastFull = deps.now().getTime();
    } catch (error) {
      reason = errorText(error).replace(/^no answer within/, 'the state store gave no answer within');
    }
    const at = deps.now().toISOString();
    const healthy = reason === undefined;
    if (healthy !== state.healthy) {
      state = { healthy, ...(reason ? { reason } : {}), since: at, checkedAt: at };
      if (healthy) deps.logger.warn({ component: 'state-health' }, 'state store healthy again');
      else deps.logger.error({ component: 'state-health', reason }, 'state store unhealthy');
      void tell();
    } else {
      state = { ...state, ...(reason ? { reason } : {}), checkedAt: at };
    }
    return state;
  };

  const tell = async (): Promise<void> => {
    if (telling) return telling;
    telling = (async () => {
      while (!stopped && told !== state.healthy) {
        const verdict = state;
        const text = verdict.healthy
          ? `✅ dr-bot's state store is healthy again (since ${verdict.since}); /healthz answers 200. Check \`/dr history --verify\` and \`/dr alerts\`: what happened while it was broken may not have been recorded.`
          : `🚨 dr-bot's own state store is broken: ${verdict.reason}. /healthz answers 503. Until it is fixed, audit rows, alerts, gates and runs of ${deps.systemName} may not be recorded, and destructive commands are refused. Fix or restore DR_STATE and restart the bot.`;
        try {
          await deps.notify(text);
          told = verdict.healthy;
        } catch (error) {
          deps.logger.error({ component: 'state-health', err: errorText(error) }, 'could not tell the critical channel about the state store; retrying');
          await new Promise((resolve) => setTimeout(resolve, NOTIFY_RETRY_MS).unref());
        }
      }
    })().finally(() => (telling = undefined));
    return telling;
  };

  // Checks never overlap: a fault arriving mid-check asks for one more check after it.
  const checkNow = (options: { full?: boolean } = {}): Promise<StateHealth> => {
    const full = options.full ?? deps.now().getTime() - lastFull >= fullEvery;
    if (running) {
      again = { full: full || (again?.full ?? false) };
      return running;
    }
    running = check(full).finally(() => {
      running = undefined;
      if (again && !stopped) {
        const next = again;
        again = undefined;
        void checkNow(next);
      }
    });
    return running;
  };

  // A corrupt page reported by a query deserves the full check; a lost connection the ordinary one.
  deps.store.onFault((reason) => {
    if (stopped) return;
    void checkNow({ full: /CORRUPT|NOTADB|malformed/i.test(reason) });
  });
  const timer = setInterval(() => void checkNow(), interval);
  timer.unref();
  void checkNow();

  return {
    current: () => state,
    checkNow,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => {});
    },
  };
}
