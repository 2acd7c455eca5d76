import { HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DocumentStore, StorageFacts } from '../../ports/dms.ts';
import { documentsPlace, s3Failure, type S3Place } from '../s3/errors.ts';

/** The DMS primary bucket; the probe is a HeadBucket. */
export class S3DocumentStore implements DocumentStore {
  private readonly place: S3Place;

  constructor(private readonly client: S3Client, bucket: string | S3Place, private readonly region: string) {
    this.place = documentsPlace(bucket);
  }

  get location(): string {
    return this.place.location;
  }

  async probe(signal: AbortSignal): Promise<StorageFacts> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.place.bucket }), { abortSignal: signal });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw s3Failure(error, this.place, 'HeadBucket');
    }
    return { kind: 's3', bucket: this.place.bucket, region: this.region };
  }
}
