import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { DocumentEntry, DocumentSource } from '../../ports/dms.ts';

/** The DMS primary bucket as a snapshot source: keys are the documents' file paths, LastModified stands in for mtime. */
export class S3DocumentSource implements DocumentSource {
  constructor(private readonly client: S3Client, private readonly bucket: string) {}

  get location(): string {
    return `s3://${this.bucket}`;
  }

  async *list(): AsyncIterable<DocumentEntry[]> {
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, ContinuationToken: token }));
      const batch: DocumentEntry[] = [];
      for (const object of page.Contents ?? []) {
        if (!object.Key || object.Key.endsWith('/')) continue;
        batch.push({ path: object.Key, sizeBytes: object.Size ?? 0, mtimeMs: object.LastModified?.getTime() ?? 0 });
      }
      if (batch.length > 0) yield batch;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async open(key: string): Promise<NodeJS.ReadableStream> {
    const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    return object.Body as NodeJS.ReadableStream;
  }
}
