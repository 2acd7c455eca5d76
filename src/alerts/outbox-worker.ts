import type { Logger } from 'pino';
import { OUTBOX_PRIORITY, type OutboxMessage, type OutboxTarget } from '../domain/alert.ts';
import { errorText } from '../domain/errors.ts';
import type { StateStore } from '../ports/state-store.ts';

/** What became of one message a deliverer was given. */
export type DeliveryOutcome =
  /** Sent; or, with `dropped` saying why, settled without sending because it no longer mattered. */
  | { id: number; delivered: true; dropped?: string }
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
  /**
   * Messages claimed at a time per target: small, so whatever becomes due meanwhile (a new alert's page) waits
   * for at most one small batch; each target is delivered on its own, so a slow Slack never holds up PagerDuty.
   */
  batchSize?: number;
  /** When nothing but a storm's digest messages is due, this many are claimed at once: one digest, not dozens. */
  digestBatchSize?: number;
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
  const batchSize = deps.batchSize ?? 10;
  const digestBatchSize = Math.max(batchSize, deps.digestBatchSize ?? 10_000);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const claim = async (target: OutboxTarget): Promise<OutboxMessage[]> => {
    const at = now();
    const options = { owner: deps.owner, leaseUntil: new Date(at.getTime() + leaseMs).toISOString(), ...(deps.ownerAlive ? { ownerAlive: deps.ownerAlive } : {}) };
    const batch = await deps.store.claimOutbox(target, at.toISOString(), { ...options, limit: batchSize });
    // Digest messages reached means every more urgent head is in the batch already: take the rest of the storm
    // with it, so Slack shows it as one digest rather than one per small batch.
    if (batch.length === batchSize && batch.some((m) => m.priority === OUTBOX_PRIORITY.digest) && digestBatchSize > batchSize) {
      batch.push(...(await deps.store.claimOutbox(target, at.toISOString(), { ...options, limit: digestBatchSize - batchSize, minPriority: OUTBOX_PRIORITY.digest })));
    }
    return batch;
  };

  // Outcomes reported together (a digest settles thousands at once) are written in one statement.
  const delivered: Array<{ id: number; attempts: number; resolve: () => void; reject: (error: unknown) => void }> = [];
  let flushing: Promise<void> | undefined;
  const flushDelivered = async (): Promise<void> => {
    while (delivered.length > 0) {
      const batch = delivered.splice(0, 500);
      try {
        await deps.store.settleDelivered(batch.map((m) => ({ id: m.id, attempts: m.attempts })), now().toISOString(), deps.owner);
        for (const m of batch) m.resolve();
      } catch (error) {
        for (const m of batch) m.reject(error);
      }
    }
  };
  const scheduleFlush = (): void => {
    if (flushing) return;
    // Outcomes reported in the same tick join one write; a lone outcome is written at once.
    flushing = new Promise<void>((done) => setImmediate(done))
      .then(flushDelivered)
      .finally(() => {
        flushing = undefined;
        if (delivered.length > 0) scheduleFlush();
      });
  };
  const settleDelivered = (id: number, attempts: number): Promise<void> =>
    new Promise((resolve, reject) => {
      delivered.push({ id, attempts, resolve, reject });
      scheduleFlush();
    });

  const deliverTarget = async (target: OutboxTarget, deliverer: OutboxDeliverer): Promise<number> => {
    const batch = await claim(target);
    if (batch.length === 0) return 0;
    const byId = new Map(batch.map((m) => [m.id, m]));
    const settled = new Set<number>();
    const retrying = { count: 0 };
    const settle = async (outcome: DeliveryOutcome) => {
      const message = byId.get(outcome.id);
      if (!message || settled.has(outcome.id)) return;
      settled.add(outcome.id);
      const attempts = message.attempts + 1;
      if (outcome.delivered && outcome.dropped !== undefined) {
        deps.logger.info({ outbox: message.id, target, kind: message.payload.kind, why: outcome.dropped }, 'notification dropped: no longer needed');
        await deps.store.settleOutbox(message.id, { status: 'dropped', attempts, deliveredAt: now().toISOString(), lastError: outcome.dropped.slice(0, 500) }, deps.owner);
        return;
      }
      if (outcome.delivered) return settleDelivered(message.id, attempts);
      const dead = outcome.permanent === true && attempts >= MAX_PERMANENT_ATTEMPTS;
      // Never sooner than half a second: a far side answering `Retry-After: 0` must not make this spin.
      const delay = Math.max(MIN_RETRY_MS, outcome.retryAfterMs ?? Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** Math.min(attempts - 1, 10)));
      await deps.store.settleOutbox(message.id, { status: dead ? 'dead' : 'pending', attempts, nextAttemptAt: new Date(now().getTime() + delay).toISOString(), lastError: outcome.error.slice(0, 500) }, deps.owner);
      if (dead) {
        deps.logger.error({ outbox: message.id, target, err: outcome.error }, 'notification given up after permanent failures');
        deps.onDead?.(message, outcome.error);
      } else {
        // A failed digest fails thousands of messages at once: one log line per batch, not one per message.
        if (retrying.count++ === 0) deps.logger.warn({ outbox: message.id, target, attempts, retryInMs: delay, err: outcome.error }, 'notification not delivered yet; will retry');
      }
    };
    let failure: string | undefined;
    try {
      await deliverer.deliver(batch, settle);
    } catch (error) {
      failure = errorText(error);
    }
    for (const message of batch) if (!settled.has(message.id)) await settle({ id: message.id, delivered: false, error: failure ?? 'not attempted' });
    if (retrying.count > 1) deps.logger.warn({ target, messages: retrying.count }, 'notifications of one batch not delivered yet; will retry');
    return batch.length;
  };

  // One loop per target: Slack pacing itself at a post per second never delays a page.
  const lanes = Object.entries(deps.deliverers).map(([target, deliverer]) => {
    const lane = { target: target as OutboxTarget, deliverer: deliverer!, running: undefined as Promise<void> | undefined, again: false };
    const cycle = async (): Promise<void> => {
      do {
        lane.again = false;
        const count = await deliverTarget(lane.target, lane.deliverer).catch((error: unknown) => {
          deps.logger.error({ target: lane.target, err: errorText(error) }, 'outbox delivery cycle failed');
          return 0;
        });
        // Anything delivered may have unblocked the next message of its order key (a post's later edit): look again
        // until a pass finds nothing due. Failures are rescheduled for later, so this ends.
        if (count > 0) lane.again = true;
      } while (lane.again && !stopped);
    };
    return {
      run(): Promise<void> {
        if (lane.running) {
          lane.again = true;
          return lane.running;
        }
        lane.running = cycle().finally(() => {
          lane.running = undefined;
        });
        return lane.running;
      },
      get running() {
        return lane.running;
      },
    };
  });

  const run = async (): Promise<void> => {
    await Promise.all(lanes.map((lane) => lane.run()));
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
      while (lanes.some((lane) => lane.running)) await Promise.all(lanes.map((lane) => lane.running));
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await Promise.all(lanes.map((lane) => lane.running));
      await flushing;
    },
  };
}
