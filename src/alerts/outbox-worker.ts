import type { Logger } from 'pino';
import type { OutboxMessage, OutboxTarget } from '../domain/alert.ts';
import { errorText } from '../domain/errors.ts';
import type { StateStore } from '../ports/state-store.ts';

/** What became of one message a deliverer was given. */
export type DeliveryOutcome =
  | { id: number; delivered: true }
  /** Try again later: after `retryAfterMs` when the far side said so (429), else with backoff. */
  | { id: number; delivered: false; error: string; retryAfterMs?: number; permanent?: boolean };

/**
 * Delivers due messages of one target (Slack, PagerDuty, e-mail); may batch them (a digest) and pace itself.
 * It reports each outcome as soon as it knows it, so a crash mid-batch re-sends only what was in flight.
 */
export interface OutboxDeliverer {
  deliver(messages: readonly OutboxMessage[], report: (outcome: DeliveryOutcome) => Promise<void>): Promise<void>;
}

/** What the worker needs. */
export interface OutboxWorkerDeps {
  store: StateStore;
  owner: string;
  logger: Logger;
  now?: () => Date;
  deliverers: Partial<Record<OutboxTarget, OutboxDeliverer>>;
  /** How often to look for due messages when nobody kicks the worker. */
  pollMs?: number;
  /** How long a claimed batch is ours; a batch must be delivered well within it. */
  leaseMs?: number;
  batchSize?: number;
  /** Whether the process holding a lease is alive (a dead one's leases are taken over at once). */
  ownerAlive?: (owner: string) => boolean | undefined;
  /** Called when a message is given up on (a permanent error): it is logged and counted, never dropped silently. */
  onDead?: (message: OutboxMessage, error: string) => void;
}

/** The running worker. */
export interface OutboxWorker {
  /** Something was queued: look now instead of at the next poll. */
  kick(): void;
  /** Delivers everything due now (tests, and a clean shutdown). */
  drain(): Promise<void>;
  stop(): Promise<void>;
}

// Backoff for failures without a Retry-After: 1 s, 2 s, 4 s … capped, so delivery resumes soon after an outage.
const MAX_BACKOFF_MS = 30_000;
const MIN_RETRY_MS = 500;
// A message failing permanently this many times is given up on (and reported); transient failures never are.
const MAX_PERMANENT_ATTEMPTS = 3;

/**
 * Delivers the durable outbox (DESIGN.md §7): each target's due messages are leased, delivered and settled;
 * a failure is retried with backoff (or after Retry-After), so a Slack outage, a 429 or a restart loses
 * nothing; one alert's messages go out in order because only the head of each order key is ever due.
 */
export function startOutboxWorker(deps: OutboxWorkerDeps): OutboxWorker {
  const now = deps.now ?? (() => new Date());
  // Long enough for a full batch paced at one post per second per channel.
  const leaseMs = deps.leaseMs ?? 15 * 60_000;
  const batchSize = deps.batchSize ?? 500;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;

  const deliverTarget = async (target: OutboxTarget, deliverer: OutboxDeliverer): Promise<number> => {
    const at = now();
    const batch = await deps.store.claimOutbox(target, at.toISOString(), { owner: deps.owner, leaseUntil: new Date(at.getTime() + leaseMs).toISOString(), limit: batchSize, ...(deps.ownerAlive ? { ownerAlive: deps.ownerAlive } : {}) });
    if (batch.length === 0) return 0;
    const byId = new Map(batch.map((m) => [m.id, m]));
    const settled = new Set<number>();
    const settle = async (outcome: DeliveryOutcome) => {
      const message = byId.get(outcome.id);
      if (!message || settled.has(outcome.id)) return;
      settled.add(outcome.id);
      const attempts = message.attempts + 1;
      if (outcome.delivered) {
        await deps.store.settleOutbox(message.id, { status: 'delivered', attempts, deliveredAt: now().toISOString() }, deps.owner);
        return;
      }
      const dead = outcome.permanent === true && attempts >= MAX_PERMANENT_ATTEMPTS;
      // Never sooner than half a second: a far side answering `Retry-After: 0` must not make this spin.
      const delay = Math.max(MIN_RETRY_MS, outcome.retryAfterMs ?? Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** Math.min(attempts - 1, 10)));
      await deps.store.settleOutbox(message.id, { status: dead ? 'dead' : 'pending', attempts, nextAttemptAt: new Date(now().getTime() + delay).toISOString(), lastError: outcome.error.slice(0, 500) }, deps.owner);
      if (dead) {
        deps.logger.error({ outbox: message.id, target, err: outcome.error }, 'notification given up after permanent failures');
        deps.onDead?.(message, outcome.error);
      } else {
        deps.logger.warn({ outbox: message.id, target, attempts, retryInMs: delay, err: outcome.error }, 'notification not delivered yet; will retry');
      }
    };
    let failure: string | undefined;
    try {
      await deliverer.deliver(batch, settle);
    } catch (error) {
      failure = errorText(error);
    }
    for (const message of batch) if (!settled.has(message.id)) await settle({ id: message.id, delivered: false, error: failure ?? 'not attempted' });
    return batch.length;
  };

  const cycle = async (): Promise<void> => {
    do {
      again = false;
      const results = await Promise.all(
        Object.entries(deps.deliverers).map(([target, deliverer]) =>
          deliverTarget(target as OutboxTarget, deliverer!).catch((error: unknown) => {
            deps.logger.error({ target, err: errorText(error) }, 'outbox delivery cycle failed');
            return 0;
          }),
        ),
      );
      // Anything delivered may have unblocked the next message of its order key (a post's later edit): look again
      // until a pass finds nothing due. Failures are rescheduled for later, so this ends.
      if (results.some((n) => n > 0)) again = true;
    } while (again && !stopped);
  };

  const run = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = cycle().finally(() => {
      running = undefined;
    });
    return running;
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      void run().finally(schedule);
    }, deps.pollMs ?? 1_000);
    timer.unref();
  };
  schedule();

  return {
    kick: () => void run(),
    async drain() {
      await run();
      while (running) await running;
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
