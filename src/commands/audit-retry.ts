import type { Logger } from 'pino';
import type { AuditEntryInput } from '../domain/audit.ts';
import { errorText } from '../domain/errors.ts';
import type { StateStore } from '../ports/state-store.ts';

// Rows waiting for a store that cannot take them: enough for hours of commands, bounded so memory is too.
const MAX_PENDING = 10_000;
const RETRY_EVERY_MS = 5_000;

/**
 * Audit rows the store refused, tried again in their original order until it takes them ("every command
 * writes an audit row" holds across a store that is locked or down for a while). Each keeps the time it
 * happened in its detail (`occurredAt`), since the row's own time is when it was finally written.
 */
export class AuditRetryQueue {
  private readonly pending: AuditEntryInput[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<boolean> | undefined;
  private dropped = 0;

  constructor(
    private readonly store: StateStore,
    private readonly logger: Logger,
    private readonly retryEveryMs = RETRY_EVERY_MS,
  ) {}

  /** Rows still waiting. */
  get size(): number {
    return this.pending.length;
  }

  /** Keeps a row the store refused, to be written by a later flush. */
  add(entry: AuditEntryInput, occurredAt: string): void {
    if (this.pending.length >= MAX_PENDING) {
      this.pending.shift();
      this.dropped += 1;
      this.logger.error({ dropped: this.dropped }, 'audit retry queue full: the oldest waiting audit row was dropped');
    }
    this.pending.push({ ...entry, detail: { ...entry.detail, occurredAt, retried: true } });
    this.schedule();
  }

  /** Writes the waiting rows in order; true when none is left. Concurrent calls share one pass. */
  flush(): Promise<boolean> {
    this.flushing ??= this.writeAll().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** Stops the timer (rows still waiting are logged as lost). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length > 0) this.logger.error({ rows: this.pending.length }, 'audit rows never written: the state store did not take them before the bot stopped');
  }

  private async writeAll(): Promise<boolean> {
    while (this.pending.length > 0) {
      try {
        await this.store.appendAudit(this.pending[0]!);
      } catch (error) {
        this.logger.warn({ err: errorText(error), waiting: this.pending.length }, 'audit rows still cannot be written; retrying');
        this.schedule();
        return false;
      }
      this.pending.shift();
    }
    return true;
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush().then((done) => {
        if (done) this.logger.warn('audit rows that had waited for the state store are written');
      });
    }, this.retryEveryMs);
    this.timer.unref();
  }
}

const queues = new WeakMap<StateStore, AuditRetryQueue>();

/** The retry queue of one store (one per process and store). */
export function auditRetryQueue(store: StateStore, logger: Logger): AuditRetryQueue {
  let queue = queues.get(store);
  if (!queue) {
    queue = new AuditRetryQueue(store, logger);
    queues.set(store, queue);
  }
  return queue;
}
