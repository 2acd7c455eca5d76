import path from 'node:path';
import { documentFile } from '../../domain/document-paths.ts';
import type { DocumentHasher } from '../../ports/dms.ts';
import { fsWorkers } from './fs-worker-pool.ts';

/** Hashes files under the uploads folder on the file-system worker threads, one per core. */
export class LocalDocumentHasher implements DocumentHasher {
  constructor(private readonly root: string) {}

  async hash(storagePath: string): Promise<{ sha256: string; sizeBytes: number }> {
    // The worker refuses a file reached through a symlinked folder that leads out of the root.
    const { sha256, size } = await fsWorkers.run('hash', { file: documentFile(this.root, storagePath), root: path.resolve(this.root) });
    return { sha256, sizeBytes: size };
  }

  // The workers are the process's shared pool: idle, they hold nothing open.
  async close(): Promise<void> {}
}
