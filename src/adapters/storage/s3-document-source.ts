import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { DocumentEntry, DocumentSource } from '../../ports/dms.ts';
import { documentsPlace, s3Failure, type S3Place } from '../s3/errors.ts';

/** The DMS primary bucket as a snapshot source: keys are the documents' file paths, LastModified stands in for mtime. */
export class S3DocumentSource implements DocumentSource {
  private readonly place: S3Place;

  constructor(private readonly client: S3Client, bucket: string | S3Place) {
    this.place = documentsPlace(bucket);
  }

  get location(): string {
    return this.place.location;
  }

  async *list(): AsyncIterable<DocumentEntry[]> {
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: this.place.bucket, ContinuationToken: token }));
      } catch (error) {
        throw s3Failure(error, this.place, 'ListObjectsV2');
      }
      const batch: DocumentEntry[] = [];
      for (const object of page.Contents ?? []) {
        if (!object.Key || object.Key.endsWith('/')) continue;
        batch.push({ path: object.Key, sizeBytes: object.Size ?? 0, mtimeMs: object.LastModified?.getTime() ?? 0 });
      }
      if (batch.length > 0) yield batch;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** The document's bytes; a deleted document rejects with code ENOENT (missing), a store-level problem with STORE_UNAVAILABLE. */
  async open(key: string): Promise<NodeJS.ReadableStream> {
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.place.bucket, Key: key }));
      return object.Body as NodeJS.ReadableStream;
    } catch (error) {
      throw s3Failure(error, this.place, 'GetObject', key);
    }
  }
}
