import { createHash } from 'node:crypto';
import type { DocumentHasher, DocumentSource } from '../../ports/dms.ts';

/** Hashes documents of an S3 primary bucket by streaming each object (the network, not the CPU, is the limit). */
export class StreamingDocumentHasher implements DocumentHasher {
  constructor(private readonly source: DocumentSource) {}

  async hash(key: string): Promise<{ sha256: string; sizeBytes: number }> {
    const hash = createHash('sha256');
    let sizeBytes = 0;
    for await (const chunk of (await this.source.open(key)) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      sizeBytes += chunk.length;
    }
    return { sha256: hash.digest('hex'), sizeBytes };
  }

  async close(): Promise<void> {}
}
