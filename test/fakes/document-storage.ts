import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReadableBackupRepository } from '../../src/ports/backup-repository.ts';
import type { DocumentChecksums, DocumentHasher, DocumentWriter, ExpectedContent, RecordedDocument } from '../../src/ports/dms.ts';

/** SHA-256 of some bytes, as hex. */
export function sha256Of(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * A DMS in memory: its database's recorded checksums and its storage's files, with a hasher and a writer
 * over them. The writer checks content like the real ones do, and counts how many writes run at once.
 */
export class MemoryDms implements DocumentChecksums, DocumentHasher, DocumentWriter {
  readonly location = 'memory://uploads';
  readonly recorded = new Map<string, RecordedDocument>();
  readonly files = new Map<string, Buffer>();
  readonly writes: string[] = [];
  /** Paths whose write fails as a full disk would. */
  readonly failWrites = new Set<string>();
  maxWritesAtOnce = 0;
  private writesAtOnce = 0;

  /** Adds a document the database lists and the storage holds, intact. */
  add(id: number, path: string, content: string): void {
    this.recorded.set(path, { id, sha256: sha256Of(content) });
    this.files.set(path, Buffer.from(content));
  }

  async load(): Promise<Map<string, RecordedDocument>> {
    return new Map(this.recorded);
  }

  async hash(path: string): Promise<{ sha256: string; sizeBytes: number }> {
    const bytes = this.files.get(path);
    if (!bytes) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return { sha256: sha256Of(bytes), sizeBytes: bytes.length };
  }

  async close(): Promise<void> {}

  async write(path: string, content: NodeJS.ReadableStream, expected: ExpectedContent): Promise<void> {
    this.writesAtOnce += 1;
    this.maxWritesAtOnce = Math.max(this.maxWritesAtOnce, this.writesAtOnce);
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of content as AsyncIterable<Buffer>) chunks.push(chunk);
      // A turn of the event loop, so concurrent writes really overlap.
      await new Promise((resolve) => setImmediate(resolve));
      if (this.failWrites.has(path)) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      const bytes = Buffer.concat(chunks);
      if (sha256Of(bytes) !== expected.sha256 || bytes.length !== expected.sizeBytes) throw Object.assign(new Error(`content for ${path} does not match; not written`), { code: 'ECONTENT' });
      this.files.set(path, bytes);
      this.writes.push(path);
    } finally {
      this.writesAtOnce -= 1;
    }
  }
}

/** A backup repository's content-addressed objects in memory. */
export class MemoryObjects implements Pick<ReadableBackupRepository, 'openObject'> {
  readonly objects = new Map<string, Buffer>();

  /** Stores content under its SHA-256 and returns it. */
  put(content: string): string {
    const sha256 = sha256Of(content);
    this.objects.set(sha256, Buffer.from(content));
    return sha256;
  }

  async openObject(sha256: string): Promise<NodeJS.ReadableStream> {
    const bytes = this.objects.get(sha256);
    if (!bytes) throw Object.assign(new Error(`object ${sha256} is not in the repository memory://backups`), { code: 'ENOENT' });
    return Readable.from([bytes]);
  }
}
