import { availableParallelism } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { DocumentHasher } from '../../ports/dms.ts';

type Answer = { id: number; sha256: string; size: number } | { id: number; error: string };

/** Hashes files under the uploads folder on a pool of worker threads, one per core. */
export class LocalDocumentHasher implements DocumentHasher {
  private readonly workers: Worker[];
  private readonly waiting = new Map<number, { resolve: (r: { sha256: string; sizeBytes: number }) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private turn = 0;

  constructor(private readonly root: string, size = availableParallelism()) {
    this.workers = Array.from({ length: Math.max(1, size) }, () => {
      const worker = new Worker(new URL('./hash.worker.mjs', import.meta.url), { execArgv: [] });
      worker.on('message', (answer: Answer) => {
        const waiter = this.waiting.get(answer.id);
        this.waiting.delete(answer.id);
        if (!waiter) return;
        if ('error' in answer) waiter.reject(Object.assign(new Error(answer.error), { code: answer.error }));
        else waiter.resolve({ sha256: answer.sha256, sizeBytes: answer.size });
      });
      return worker;
    });
  }

  hash(relative: string): Promise<{ sha256: string; sizeBytes: number }> {
    const full = path.resolve(this.root, relative);
    if (!full.startsWith(`${path.resolve(this.root)}${path.sep}`)) return Promise.reject(new Error(`path escapes the uploads folder: ${relative}`));
    return new Promise((resolve, reject) => {
      const id = (this.nextId += 1);
      this.waiting.set(id, { resolve, reject });
      // Round robin: the caller keeps a bounded number in flight, so each worker's queue stays short.
      this.workers[this.turn++ % this.workers.length]!.postMessage({ id, file: full });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}
