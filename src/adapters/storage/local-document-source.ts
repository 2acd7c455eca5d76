import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { DocumentEntry, DocumentSource } from '../../ports/dms.ts';
import { documentFile } from '../../domain/document-paths.ts';
import { fsWorkers, type FsTasks } from './fs-worker-pool.ts';

// Folders handed to the workers at once: enough that they keep listing while the main thread is busy elsewhere.
const FOLDERS_IN_FLIGHT = 256;

/** The uploads folder as a snapshot source: regular files only (symlinks are not followed out of it). */
export class LocalDocumentSource implements DocumentSource {
  constructor(private readonly root: string) {}

  get location(): string {
    return this.root;
  }

  /**
   * Folders are listed (readdir + lstat of each file) on worker threads, several at once: an awaited stat per
   * file would cost a thread-pool round trip each, and a synchronous one would hold the event loop.
   */
  async *list(): AsyncIterable<DocumentEntry[]> {
    const pending = [''];
    // Settled, never rejected: a failure is thrown here, and folders still in flight cannot reject unheard.
    const inFlight = new Map<number, Promise<{ key: number; relative: string; listing?: FsTasks['list']['result']; error?: unknown }>>();
    let key = 0;
    while (pending.length > 0 || inFlight.size > 0) {
      while (pending.length > 0 && inFlight.size < FOLDERS_IN_FLIGHT) {
        const relative = pending.pop() as string;
        const k = (key += 1);
        inFlight.set(k, fsWorkers.run('list', { dir: path.join(this.root, relative), mayVanish: relative !== '', relative }).then(
          (listing) => ({ key: k, relative, listing }),
          (error: unknown) => ({ key: k, relative, error }),
        ));
      }
      const { key: done, relative, listing, error } = await Promise.race(inFlight.values());
      inFlight.delete(done);
      if (!listing) throw error;
      const { files, dirs } = listing;
      for (const name of dirs) pending.push(relative ? `${relative}/${name}` : name);
      if (files.length > 0) yield files.map(([file, sizeBytes, mtimeMs]) => ({ path: file, sizeBytes, mtimeMs }));
    }
  }

  localPath(relative: string): string {
    return documentFile(this.root, relative);
  }

  async open(relative: string): Promise<NodeJS.ReadableStream> {
    return createReadStream(this.localPath(relative), { highWaterMark: 1024 * 1024 });
  }
}
