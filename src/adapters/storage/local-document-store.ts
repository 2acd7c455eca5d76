import { opendir, statfs } from 'node:fs/promises';
import path from 'node:path';
import type { DocumentStore, StorageFacts } from '../../ports/dms.ts';

/** The DMS uploads folder on a local filesystem. */
export class LocalDocumentStore implements DocumentStore {
  /** `countBudgetMs`: how long counting files may take before the count is reported as a lower bound. */
  constructor(private readonly root: string, private readonly countBudgetMs = 2_000) {}

  get location(): string {
    return this.root;
  }

  async probe(signal: AbortSignal): Promise<StorageFacts> {
    const fs = await statfs(this.root).catch((error: NodeJS.ErrnoException) => {
      // The next step is said here, where the fact is known: a restore recreates the folder and fills it.
      throw error.code === 'ENOENT' ? Object.assign(new Error(`uploads folder ${this.root} does not exist: \`restore storage\` recreates it and writes every document back`), { code: 'ENOENT' }) : error;
    });
    // Same arithmetic as df: blocks reserved for root count as neither used nor available.
    const used = (fs.blocks - fs.bfree) * fs.bsize;
    const available = fs.bavail * fs.bsize;
    const usedPct = used + available === 0 ? 0 : (used / (used + available)) * 100;
    const { count, complete } = await countFiles(this.root, signal, Date.now() + this.countBudgetMs);
    return { kind: 'local', path: this.root, usedPct, freeBytes: available, fileCount: count, fileCountComplete: complete };
  }
}

// A store of millions of files would blow the probe's deadline and hide the disk figures: count until the budget, then say "at least".
async function countFiles(root: string, signal: AbortSignal, stopAt: number): Promise<{ count: number; complete: boolean }> {
  let count = 0;
  const pending = [root];
  while (pending.length > 0) {
    if (signal.aborted) throw signal.reason;
    if (Date.now() > stopAt) return { count, complete: false };
    const dir = pending.pop() as string;
    for await (const entry of await opendir(dir)) {
      if (entry.isDirectory()) pending.push(path.join(dir, entry.name));
      else if (entry.isFile()) count += 1;
    }
  }
  return { count, complete: true };
}
