import { createReadStream } from 'node:fs';
import { lstat, opendir } from 'node:fs/promises';
import path from 'node:path';
import type { DocumentEntry, DocumentSource } from '../../ports/dms.ts';

/** The uploads folder as a snapshot source: regular files only (symlinks are not followed out of it). */
export class LocalDocumentSource implements DocumentSource {
  constructor(private readonly root: string) {}

  get location(): string {
    return this.root;
  }

  async *list(): AsyncIterable<DocumentEntry> {
    const pending = [''];
    while (pending.length > 0) {
      const relative = pending.pop() as string;
      for await (const entry of await opendir(path.join(this.root, relative))) {
        const child = relative ? `${relative}/${entry.name}` : entry.name;
        if (entry.isDirectory()) pending.push(child);
        else if (entry.isFile()) {
          const stats = await lstat(path.join(this.root, child));
          yield { path: child, sizeBytes: stats.size, mtimeMs: stats.mtimeMs };
        }
      }
    }
  }

  async open(relative: string): Promise<NodeJS.ReadableStream> {
    const full = path.resolve(this.root, relative);
    if (!full.startsWith(`${path.resolve(this.root)}${path.sep}`)) throw new Error(`path escapes the uploads folder: ${relative}`);
    return createReadStream(full, { highWaterMark: 1024 * 1024 });
  }
}
