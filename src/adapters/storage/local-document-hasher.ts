import path from 'node:path';
import type { DocumentHasher } from '../../ports/dms.ts';
import { fsWorkers } from './fs-worker-pool.ts';

/** Hashes files under the uploads folder on the file-system worker threads, one per core. */
export class LocalDocumentHasher implements DocumentHasher {
  constructor(private readonly root: string) {}

  async hash(relative: string): Promise<{ sha256: string; sizeBytes: number }> {
    const full = path.resolve(this.root, relative);
    if (!full.startsWith(`${path.resolve(this.root)}${path.sep}`)) throw new Error(`path escapes the uploads folder: ${relative}`);
    const { sha256, size } = await fsWorkers.run('hash', { file: full });
    return { sha256, sizeBytes: size };
  }

  // The workers are the process's shared pool: idle, they hold nothing open.
  async close(): Promise<void> {}
}
