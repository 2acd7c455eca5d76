import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { DocumentWriter, ExpectedContent } from '../../ports/dms.ts';
import { checkedContent, releaseContent } from './checked-content.ts';
import { documentsPlace, s3Failure, type S3Place } from '../s3/errors.ts';

/**
 * Writes documents back into the DMS primary bucket. An object appears whole or not at all: a small one is
 * one PutObject sent only after its last byte was checked; a large one is a multipart upload that is
 * aborted, never completed, when the check fails at the end.
 */
export class S3DocumentWriter implements DocumentWriter {
  private readonly place: S3Place;

  constructor(private readonly client: S3Client, bucket: string | S3Place) {
    this.place = documentsPlace(bucket);
  }

  get location(): string {
    return this.place.location;
  }

  async write(key: string, content: NodeJS.ReadableStream, expected: ExpectedContent): Promise<void> {
    let refused: unknown;
    try {
      if (key === '') throw new Error('empty document key');
      const body = checkedContent(content, expected, key);
      body.once('error', (error) => (refused = error));
      await new Upload({ client: this.client, params: { Bucket: this.place.bucket, Key: key, Body: body, ContentLength: expected.sizeBytes } }).done();
    } catch (error) {
      releaseContent(content);
      // Wrong bytes are the reason to report, even when aborting the multipart upload failed as well.
      throw refused ?? (isSdkError(error) ? s3Failure(error, this.place, 'upload', key) : error);
    }
  }
}

// Errors of the store carry the SDK's metadata; the checked stream's own errors (wrong bytes) do not.
function isSdkError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && ('$metadata' in error || (error as Error).name === 'TimeoutError');
}
