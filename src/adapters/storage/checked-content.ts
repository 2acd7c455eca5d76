import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ExpectedContent } from '../../ports/dms.ts';

/**
 * Passes `content` through while hashing it, and fails instead of ending when the bytes are not `expected`:
 * whatever consumes it (a file rename, an S3 upload) sees an error before it could commit wrong bytes.
 */
export function checkedContent(content: NodeJS.ReadableStream, expected: ExpectedContent, label: string): Readable {
  return Readable.from(passChecked(content, expected, label), { objectMode: false });
}

async function* passChecked(content: NodeJS.ReadableStream, expected: ExpectedContent, label: string): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  for await (const chunk of content as AsyncIterable<Buffer | string>) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    hash.update(bytes);
    sizeBytes += bytes.length;
    // Longer than expected is already wrong: stop before sending more of it.
    if (sizeBytes > expected.sizeBytes) throw mismatch(label, `is longer than the expected ${expected.sizeBytes} B`);
    yield bytes;
  }
  const sha256 = hash.digest('hex');
  if (sha256 !== expected.sha256 || sizeBytes !== expected.sizeBytes) {
    throw mismatch(label, `has SHA-256 ${sha256.slice(0, 12)}… (${sizeBytes} B), expected ${expected.sha256.slice(0, 12)}… (${expected.sizeBytes} B)`);
  }
}

// ECONTENT: the reason a write-back failed is the bytes it was given, not the storage.
function mismatch(label: string, what: string): Error {
  return Object.assign(new Error(`content for ${label} ${what}; not written`), { code: 'ECONTENT' });
}

/** Frees a stream that will not be read to its end (its file handle or socket). */
export function releaseContent(content: NodeJS.ReadableStream): void {
  (content as Partial<Pick<Readable, 'destroy'>>).destroy?.();
}
