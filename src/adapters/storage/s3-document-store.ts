import { HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DocumentStore, StorageFacts } from '../../ports/dms.ts';

/** The DMS primary bucket; the probe is a HeadBucket. */
export class S3DocumentStore implements DocumentStore {
  constructor(private readonly client: S3Client, private readonly bucket: string, private readonly region: string) {}

  get location(): string {
    return `s3://${this.bucket}`;
  }

  async probe(signal: AbortSignal): Promise<StorageFacts> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: signal });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const name = (error as Error).name;
      throw new Error(`HeadBucket ${this.bucket} failed: ${status === 404 ? 'no such bucket' : status === 403 ? 'access denied' : `${name}${status ? ` (HTTP ${status})` : ''}`}`);
    }
    return { kind: 's3', bucket: this.bucket, region: this.region };
  }
}
