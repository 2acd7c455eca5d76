import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { MANIFEST_DIR, summarizeManifest } from '../../backup/manifest.ts';
import type { BackupSummary, LocalBackupFile, StoredFile, WritableBackupRepository, ObjectContent, PutObjectResult } from '../../ports/backup-repository.ts';
import { sha256OfFile, tapStream } from '../../backup/file-hash.ts';
import { notFoundAs, removeAbandonedStaging, stagedName, writeHashed } from './local-backup-repository.ts';

// Files are produced on local disk first (hashing as they are written), then uploaded: S3 objects appear
// whole or not at all, and the manifest, uploaded last, is what makes a backup exist.
const STAGING_ROOT = path.join(tmpdir(), 'dr-bot-staging');
const OBJECTS_DIR = 'objects';

/** A backup repository under an S3 bucket/prefix (AWS or S3-compatible). */
export class S3BackupRepository implements WritableBackupRepository {
  readonly commitMovesFile = false;

  constructor(private readonly client: S3Client, private readonly bucket: string, private readonly prefix: string) {}

  get location(): string {
    return `s3://${this.bucket}/${this.prefix}`;
  }

  async listBackups(signal: AbortSignal): Promise<BackupSummary[]> {
    const summaries: BackupSummary[] = [];
    for await (const key of this.keys(`${MANIFEST_DIR}/`, signal)) {
      if (!key.endsWith('.json')) continue;
      const summary = summarizeManifest(await this.text(key, signal));
      if (summary) summaries.push(summary);
    }
    return summaries;
  }

  async stage(name: string): Promise<string> {
    const dir = path.join(STAGING_ROOT, this.bucket);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return path.join(dir, stagedName(name));
  }

  async commit(stagedPath: string, key: string, knownSha256?: string): Promise<StoredFile> {
    const sha256 = knownSha256 ?? (await sha256OfFile(stagedPath));
    const { size } = await stat(stagedPath);
    await new Upload({ client: this.client, params: { Bucket: this.bucket, Key: this.full(key), Body: createReadStream(stagedPath), ContentLength: size } }).done();
    await rm(stagedPath, { force: true });
    return { key, sizeBytes: size, sha256 };
  }

  async hash(key: string): Promise<string> {
    return this.hashKey(this.full(key));
  }

  async probe(signal: AbortSignal): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: signal });
    } catch (error) {
      throw new Error(`repository ${this.location}: HeadBucket failed: ${(error as Error).name === 'NotFound' ? 'no such bucket' : (error as Error).message || (error as Error).name}`);
    }
  }

  async upload<T>(key: string, write: (out: NodeJS.WritableStream) => Promise<T>, signal: AbortSignal): Promise<{ result: T; sizeBytes: number }> {
    let sizeBytes = 0;
    // What the producer writes is what the upload reads, counted on the way.
    const body = tapStream((chunk) => (sizeBytes += chunk.length));
    // Parts of 8 MB, two in flight: the upload's memory stays bounded whatever the dump's size.
    const upload = new Upload({ client: this.client, params: { Bucket: this.bucket, Key: this.full(key), Body: body }, partSize: 8 * 1024 * 1024, queueSize: 2, leavePartsOnError: false });
    const uploading = upload.done();
    // An upload that fails stops reading the body: fail the producer too, instead of leaving it blocked.
    uploading.catch((error: unknown) => body.destroy(error as Error));
    const onAbort = () => void upload.abort().catch(() => {});
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const result = await write(body).then(
        (value) => {
          body.end();
          return value;
        },
        (error: unknown) => {
          body.destroy(error as Error);
          throw error;
        },
      );
      await uploading;
      return { result, sizeBytes };
    } catch (error) {
      // The store's refusal is the reason, not the producer's broken pipe that followed from it.
      const refused = await Promise.race([uploading.then(() => undefined, (uploadError: unknown) => uploadError), new Promise((resolve) => setImmediate(resolve, undefined))]);
      body.destroy();
      await upload.abort().catch(() => {});
      // A request already in flight is not cancelled by abort(): wait for it to land or fail (the client's
      // idle timeout bounds this), so the delete below comes after it and nothing is left under the key.
      await uploading.catch(() => {});
      await this.discard(key).catch(() => {});
      throw refused ?? error;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async readStream(key: string, signal: AbortSignal): Promise<NodeJS.ReadableStream> {
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.full(key) }), { abortSignal: signal });
      return object.Body as Readable;
    } catch (error) {
      throw notFoundAs(error, `${key} is not in the repository ${this.location}`);
    }
  }

  async writeManifest(id: string, manifest: object, namedFirst?: Promise<void>): Promise<void> {
    await namedFirst;
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: this.full(`${MANIFEST_DIR}/${id}.json`), Body: `${JSON.stringify(manifest)}\n`, ContentType: 'application/json' }),
    );
  }

  async discard(pathOrKey: string): Promise<void> {
    if (path.isAbsolute(pathOrKey)) await rm(pathOrKey, { force: true, recursive: true });
    else await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.full(pathOrKey) }));
  }

  cleanStaging(): Promise<number> {
    return removeAbandonedStaging(path.join(STAGING_ROOT, this.bucket));
  }

  async putObject(content: ObjectContent): Promise<PutObjectResult> {
    const staged = await this.stage('object');
    try {
      const { sha256, sizeBytes } = await writeHashed(await content.open(), staged);
      const key = this.objectKey(sha256);
      if (await this.exists(key)) {
        // Copy onto itself: a fresh LastModified keeps a running sweep from taking it.
        await this.client
          .send(new CopyObjectCommand({ Bucket: this.bucket, Key: key, CopySource: `${this.bucket}/${key}`, MetadataDirective: 'REPLACE' }))
          .catch(() => {});
        return { sha256, sizeBytes, stored: false };
      }
      await new Upload({ client: this.client, params: { Bucket: this.bucket, Key: key, Body: createReadStream(staged), ContentLength: sizeBytes } }).done();
      const readBackSha256 = await this.hashKey(key);
      // Stored wrong: not left under its name, where the next snapshot would take it for good.
      if (readBackSha256 !== sha256) await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })).catch(() => {});
      return { sha256, sizeBytes, stored: true, readBackSha256 };
    } finally {
      await rm(staged, { force: true });
    }
  }

  // An S3 PUT that answered is durable.
  async flushObjects(): Promise<void> {}

  hashObject(sha256: string): Promise<string> {
    return this.hashKey(this.objectKey(sha256));
  }

  async readManifest(id: string): Promise<unknown> {
    if (!/^[a-z]+-\d{8}T\d{6}Z-[0-9a-f]{4}$/.test(id)) throw new Error(`not a backup id: ${id}`);
    return JSON.parse(await this.text(`${MANIFEST_DIR}/${id}.json`)) as unknown;
  }

  async openObject(sha256: string): Promise<NodeJS.ReadableStream> {
    const key = this.objectKey(sha256);
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return object.Body as Readable;
    } catch (error) {
      throw notFoundAs(error, `object ${sha256} is not in the repository ${this.location}`);
    }
  }

  // Downloaded into staging (a temp name), so an interrupted restore's leftovers go with cleanStaging().
  async localFile(key: string): Promise<LocalBackupFile> {
    const staged = await this.stage(key);
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.full(key) }));
      await pipeline(object.Body as Readable, createWriteStream(staged, { flags: 'wx', mode: 0o600 }));
    } catch (error) {
      await rm(staged, { force: true });
      throw notFoundAs(error, `${key} is not in the repository ${this.location}`);
    }
    return { path: staged, release: () => rm(staged, { force: true }) };
  }

  async removeBackup(id: string, keys: readonly string[]): Promise<void> {
    await this.discard(`${MANIFEST_DIR}/${id}.json`);
    for (const key of keys) await this.discard(key);
  }

  async *listObjects(): AsyncIterable<{ sha256: string; mtimeMs: number; sizeBytes: number }> {
    for await (const object of this.objects(`${OBJECTS_DIR}/`)) {
      const sha256 = object.key.split('/').at(-1) ?? '';
      if (/^[0-9a-f]{64}$/.test(sha256)) yield { sha256, mtimeMs: object.mtimeMs, sizeBytes: object.sizeBytes };
    }
  }

  async removeObject(sha256: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(sha256) }));
  }

  private prefixPath(): string {
    return this.prefix ? `${this.prefix}/` : '';
  }

  private full(key: string): string {
    return `${this.prefixPath()}${key}`;
  }

  private objectKey(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a SHA-256: ${sha256}`);
    return this.full(`${OBJECTS_DIR}/${sha256.slice(0, 2)}/${sha256}`);
  }

  private async exists(fullKey: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: fullKey }));
      return true;
    } catch (error) {
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
      throw error;
    }
  }

  private async hashKey(fullKey: string): Promise<string> {
    const hash = createHash('sha256');
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: fullKey }));
      await pipeline(object.Body as Readable, hash);
    } catch (error) {
      throw notFoundAs(error, `${fullKey} not found`);
    }
    return hash.digest('hex');
  }

  private async text(relativeKey: string, signal?: AbortSignal): Promise<string> {
    const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.full(relativeKey) }), signal ? { abortSignal: signal } : {});
    return (await object.Body?.transformToString('utf8')) ?? '';
  }

  private async *keys(relativePrefix: string, signal?: AbortSignal): AsyncIterable<string> {
    for await (const object of this.objects(relativePrefix, signal)) yield object.key.slice(this.prefixPath().length);
  }

  private async *objects(relativePrefix: string, signal?: AbortSignal): AsyncIterable<{ key: string; mtimeMs: number; sizeBytes: number }> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.full(relativePrefix), ContinuationToken: token }),
        signal ? { abortSignal: signal } : {},
      );
      for (const object of page.Contents ?? []) {
        if (object.Key) yield { key: object.Key, mtimeMs: object.LastModified?.getTime() ?? 0, sizeBytes: object.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
}
