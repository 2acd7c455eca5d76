import { Worker } from 'node:worker_threads';
import { DrError } from '../../domain/errors.ts';
import type { DatabaseFacts, DmsDatabase } from '../../ports/dms.ts';

type WorkerAnswer = { id: number; ok: true; facts?: DatabaseFacts } | { id: number; ok: false; code?: string; message: string };
type Waiter = { mode: 'probe' | 'ping'; resolve: (facts: DatabaseFacts | undefined) => void; reject: (error: unknown) => void };

// Codes where the file itself is damaged, as opposed to missing or locked.
const CORRUPTION_CODES = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB']);

/** The DMS's SQLite file, probed read-only in a worker thread that is killed when a probe's deadline passes. */
export class SqliteDmsDatabase implements DmsDatabase {
  private worker: Worker | undefined;
  private readonly waiting = new Map<number, Waiter>();
  private nextId = 0;

  constructor(private readonly file: string) {}

  get location(): string {
    return `sqlite:${this.file}`;
  }

  async probe(signal: AbortSignal): Promise<DatabaseFacts> {
    const facts = await this.ask('probe', signal);
    if (!facts) throw new DrError('PROBE_FAILED', `the SQLite probe of ${this.file} answered without facts`);
    return facts;
  }

  async ping(signal: AbortSignal): Promise<void> {
    await this.ask('ping', signal);
  }

  private ask(mode: Waiter['mode'], signal: AbortSignal): Promise<DatabaseFacts | undefined> {
    return new Promise((resolve, reject) => {
      const id = (this.nextId += 1);
      this.waiting.set(id, { mode, resolve, reject });
      // A probe past its deadline is stuck inside SQLite: only killing the thread frees it.
      signal.addEventListener('abort', () => this.kill(signal.reason), { once: true });
      const worker = this.ensureWorker();
      worker.ref();
      worker.postMessage({ id, file: this.file, mode });
    });
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    // execArgv []: the worker is plain JS; inheriting the TypeScript loader would triple its start-up cost.
    const worker = new Worker(new URL('./sqlite-probe.worker.mjs', import.meta.url), { execArgv: [] });
    worker.on('message', (answer: WorkerAnswer) => this.settle(answer));
    worker.on('error', (error) => this.kill(error));
    worker.on('exit', () => {
      if (this.worker === worker) this.kill(new Error('SQLite probe worker exited'));
    });
    // Referenced only while a probe is waiting: an idle probe worker must not keep the CLI alive.
    this.worker = worker;
    return worker;
  }

  private settle(answer: WorkerAnswer): void {
    const waiter = this.waiting.get(answer.id);
    if (!waiter) return;
    this.waiting.delete(answer.id);
    if (this.waiting.size === 0) this.worker?.unref();
    if (answer.ok) return waiter.resolve(answer.facts);
    // A damaged file is a finding of the full probe; to a ping it is simply a database that does not answer.
    if (waiter.mode === 'probe' && answer.code && CORRUPTION_CODES.has(answer.code)) {
      return waiter.resolve({ engine: 'sqlite', version: 'unknown', integrity: `${answer.code}: ${answer.message}`, counts: { documents: 0, users: 0, tenants: 0 } });
    }
    waiter.reject(new DrError('PROBE_FAILED', `cannot open ${this.file}: ${answer.code ? `${answer.code}: ` : ''}${answer.message}`));
  }

  private kill(reason: unknown): void {
    const worker = this.worker;
    this.worker = undefined;
    void worker?.terminate();
    for (const waiter of this.waiting.values()) waiter.reject(reason);
    this.waiting.clear();
  }
}
