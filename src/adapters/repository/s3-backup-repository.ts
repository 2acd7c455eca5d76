import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { MANIFEST_DIR, summarizeManifest } from '../../backup/manifest.ts';
import type { BackupRepository, BackupSummary } from '../../ports/backup-repository.ts';

/** A backup repository under an S3 bucket/prefix. */
export class S3BackupRepository implements BackupRepository {
  constructor(private readonly client: S3Client, private readonly bucket: string, private readonly prefix: string) {}

  get location(): string {
    return `s3://${this.bucket}/${this.prefix}`;
  }

  async listBackups(signal: AbortSignal): Promise<BackupSummary[]> {
    const manifestPrefix = [this.prefix, MANIFEST_DIR, ''].filter((p, i) => p !== '' || i === 2).join('/');
    const summaries: BackupSummary[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: manifestPrefix, ContinuationToken: token }),
        { abortSignal: signal },
      );
      for (const object of page.Contents ?? []) {
        if (!object.Key?.endsWith('.json')) continue;
        const body = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: object.Key }), { abortSignal: signal });
        const summary = summarizeManifest((await body.Body?.transformToString('utf8')) ?? '');
        if (summary) summaries.push(summary);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return summaries;
  }
}
