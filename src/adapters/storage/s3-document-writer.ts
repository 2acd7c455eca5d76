import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { DocumentWriter, ExpectedContent } from '../../ports/dms.ts';
import { checkedContent, releaseContent } from './checked-content.ts';

/**
 * Writes documents back into the DMS primary bucket. An object appears whole or not at all: a small one is
 * one PutObject sent only after its last byte was checked; a large one is a multipart upload that is
 * aborted, never completed, when the check fails at the end.
 */
export class S3DocumentWriter implements DocumentWriter {
  constructor(private readonly client: S3Client, private readonly bucket: string) {}

  get location(): string {
    return `s3://${this.bucket}`;
  }

  async write(key: string, content: NodeJS.ReadableStream, expected: ExpectedContent): Promise<void> {
    let refused: unknown;
    try {
      if (key === '') throw new Error('empty document key');
      const body = checkedContent(content, expected, key);
      body.once('error', (error) => (refused = error));
      await new Upload({ client: this.client, params: { Bucket: this.bucket, Key: key, Body: body, ContentLength: expected.sizeBytes } }).done();
    } catch (error) {
      releaseContent(content);
      // Wrong bytes are the reason to report, even when aborting the multipart upload failed as well.
      throw refused ?? error;
    }
  }
}
