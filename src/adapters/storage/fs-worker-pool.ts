import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { PutObjectResult } from '../../ports/backup-repository.ts';

/** What the file-system workers can do (see fs-tasks.worker.mjs). */
export interface FsTasks {
  /** With `relative`, each file's name comes back as `relative/name`. */
  list: { args: { dir: string; mayVanish?: boolean; relative?: string }; result: { files: Array<[name: string, size: number, mtimeMs: number]>; dirs: string[] } };
  /** With `root`, a file whose folder resolves (through symlinks) outside it is refused (EESCAPE). */
  hash: { args: { file: string; root?: string }; result: { sha256: string; size: number; mode: number } };
  /** `stagingDir` is a prefix: each worker stages in `<prefix>-w<thread id>`. */
  put: { args: { file: string; objectsDir: string; stagingDir: string }; result: PutObjectResult };
}

type Answer = { id: number; result: unknown } | { id: number; error: { message: string; code?: string } };

interface Slot {
  worker: Worker;
  busy: number;
}

/**
 * A few worker threads (one per core, at most `size`) running synchronous file-system tasks; each task goes to
 * the least busy worker. Started on first use and then kept, idle ones never holding the process open: starting
 * two workers costs about 130 ms of CPU, as much as listing 20,000 files.
 */
export class FsWorkerPool {
  private slots: Slot[] | undefined;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; slot: Slot }>();
  private nextId = 0;

  constructor(private readonly options: { size?: number } = {}) {}

  run<T extends keyof FsTasks>(task: T, args: FsTasks[T]['args']): Promise<FsTasks[T]['result']> {
    const slots = (this.slots ??= this.start());
    const slot = slots.reduce((best, s) => (s.busy < best.busy ? s : best));
    slot.busy += 1;
    // A worker with work keeps the process alive until it answers; an idle one does not.
    if (slot.busy === 1) slot.worker.ref();
    const id = (this.nextId += 1);
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (value: unknown) => void, reject, slot });
      slot.worker.postMessage({ id, task, args });
    });
  }

  /** Stops the workers (their staging folders go with them); the next task starts them again. */
  async close(): Promise<void> {
    const slots = this.slots;
    this.slots = undefined;
    if (!slots) return;
    await Promise.all(
      slots.map(async (slot) => {
        await new Promise<void>((resolve) => {
          const id = (this.nextId += 1);
          this.waiting.set(id, { resolve: () => resolve(), reject: () => resolve(), slot });
          slot.worker.postMessage({ id, task: 'close' });
        });
        await slot.worker.terminate();
      }),
    );
  }

  private start(): Slot[] {
    const size = Math.max(1, Math.min(this.options.size ?? Number.POSITIVE_INFINITY, availableParallelism()));
    return Array.from({ length: size }, () => this.startWorker());
  }

  private startWorker(): Slot {
    const worker = new Worker(new URL('./fs-tasks.worker.mjs', import.meta.url), { execArgv: [] });
    const slot: Slot = { worker, busy: 0 };
    worker.on('message', (answer: Answer) => this.settle(answer));
    worker.on('error', (error) => this.failAll(slot, error));
    worker.on('exit', (code) => this.failAll(slot, new Error(`file-system worker exited (code ${code})`)));
    // After the listeners: adding a 'message' listener refs the worker's port again, and a worker never given
    // a task (the second one, when a snapshot fails on its first listing) would then hold the process open.
    worker.unref();
    return slot;
  }

  private settle(answer: Answer): void {
    const waiter = this.waiting.get(answer.id);
    if (!waiter) return;
    this.waiting.delete(answer.id);
    this.release(waiter.slot);
    if ('error' in answer) waiter.reject(Object.assign(new Error(answer.error.message), answer.error.code ? { code: answer.error.code } : {}));
    else waiter.resolve(answer.result);
  }

  // A crashed worker fails only its own tasks, and a fresh one takes its place; the others carry on.
  private failAll(slot: Slot, error: Error): void {
    for (const [id, waiter] of this.waiting) {
      if (waiter.slot !== slot) continue;
      this.waiting.delete(id);
      waiter.reject(error);
    }
    slot.busy = 0;
    const index = this.slots?.indexOf(slot) ?? -1;
    if (this.slots && index >= 0) this.slots[index] = this.startWorker();
  }

  private release(slot: Slot): void {
    slot.busy -= 1;
    if (slot.busy === 0) slot.worker.unref();
  }
}

/** The process's one pool: the uploads listing and the repository's object copies share its threads. */
export const fsWorkers = new FsWorkerPool();
