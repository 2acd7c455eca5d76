import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { mkdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type GetObjectCommandOutput,
  type ListObjectsV2CommandOutput,
  type PutObjectCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { MANIFEST_DIR, summarizeManifest } from '../../backup/manifest.ts';
import type { BackupSummary, LocalBackupFile, StoredFile, WritableBackupRepository, ObjectContent, PutObjectResult, KnownObject } from '../../ports/backup-repository.ts';
import { sha256OfFile, tapStream } from '../../backup/file-hash.ts';
import { removeAbandonedStaging, stagedName } from './local-backup-repository.ts';
import { s3Failure, type S3Place } from '../s3/errors.ts';

// Files are produced on local disk first (hashing as they are written), then uploaded: S3 objects appear
// whole or not at all, and the manifest, uploaded last, is what makes a backup exist.
const STAGING_ROOT = path.join(tmpdir(), 'dr-bot-staging');
const OBJECTS_DIR = 'objects';
// Objects up to this size go up in one PutObject from memory, checked by the store itself (x-amz-checksum-sha256,
// Content-MD5) and confirmed by its answer; larger ones go up in parts from a staged file and are read back.
const SINGLE_PUT_MAX_BYTES = 8 * 1024 * 1024;


/** Content read once and hashed: in memory when small, else in a staged file. */
interface Taken {
  sha256: string;
  md5: string;
  sizeBytes: number;
  bytes?: Buffer;
  staged?: string;
}

/** A backup repository under an S3 bucket/prefix (AWS or S3-compatible). */
export class S3BackupRepository implements WritableBackupRepository {
  readonly commitMovesFile = false;

  private readonly place: S3Place;
  // Objects being stored now, by SHA-256: resolves to whether that succeeded.
  private readonly inFlight = new Map<string, Promise<boolean>>();

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
    where: { endpoint?: string | undefined; timeoutMs?: number | undefined } = {},
  ) {
    this.place = { bucket, role: 'repository', location: `s3://${bucket}/${prefix}`, endpoint: where.endpoint, timeoutMs: where.timeoutMs };
  }

  /** One request; a failure names the bucket, its role and what was asked (s3Failure). */
  private async send<T = unknown>(command: object, action: string, key?: string, signal?: AbortSignal): Promise<T> {
    try {
      return (await this.client.send(command as never, signal ? { abortSignal: signal } : {})) as T;
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw s3Failure(error, this.place, action, key);
    }
  }

  get location(): string {
    return `s3://${this.bucket}/${this.prefix}`;
  }

  async listBackups(signal: AbortSignal): Promise<BackupSummary[]> {
    const summaries: BackupSummary[] = [];
    for await (const key of this.keys(`${MANIFEST_DIR}/`, signal)) {
      if (!key.endsWith('.json')) continue;
      let text: string;
      try {
        text = await this.text(key, signal);
      } catch (error) {
        // Removed between the listing and the read (a prune, a wipe): it is no backup any more.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw error;
      }
      const summary = summarizeManifest(text);
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
    await this.uploadFile(stagedPath, size, this.full(key), key);
    await rm(stagedPath, { force: true });
    return { key, sizeBytes: size, sha256 };
  }

  async hash(key: string): Promise<string> {
    return this.hashKey(this.full(key), key);
  }

  async probe(signal: AbortSignal): Promise<void> {
    await this.send(new HeadBucketCommand({ Bucket: this.bucket }), 'HeadBucket', undefined, signal);
  }

  async upload<T>(key: string, write: (out: NodeJS.WritableStream) => Promise<T>, signal: AbortSignal): Promise<{ result: T; sizeBytes: number }> {
    let sizeBytes = 0;
    // What the producer writes is what the upload reads, counted on the way.
    const body = tapStream((chunk) => (sizeBytes += chunk.length));
    // Parts of 8 MB, two in flight: the upload's memory stays bounded whatever the dump's size.
    const upload = new Upload({ client: this.client, params: { Bucket: this.bucket, Key: this.full(key), Body: body }, partSize: 8 * 1024 * 1024, queueSize: 2, leavePartsOnError: false });
    const uploading = upload.done().catch((error: unknown) => {
      throw s3Failure(error, this.place, 'multipart upload', key);
    });
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
    const object = await this.send<GetObjectCommandOutput>(new GetObjectCommand({ Bucket: this.bucket, Key: this.full(key) }), 'GetObject', key, signal);
    return object.Body as Readable;
  }

  async writeManifest(id: string, manifest: object, namedFirst?: Promise<void>): Promise<void> {
    await namedFirst;
    const key = `${MANIFEST_DIR}/${id}.json`;
    await this.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.full(key), Body: `${JSON.stringify(manifest)}\n`, ContentType: 'application/json' }), 'PutObject', key);
  }

  async discard(pathOrKey: string): Promise<void> {
    if (path.isAbsolute(pathOrKey)) await rm(pathOrKey, { force: true, recursive: true });
    else await this.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.full(pathOrKey) }), 'DeleteObject', pathOrKey);
  }

  cleanStaging(): Promise<number> {
    return removeAbandonedStaging(path.join(STAGING_ROOT, this.bucket));
  }

  /**
   * Stores a document object with as few requests as the content allows: nothing for an object the previous
   * snapshot names, one CopyObject (a touch) for one already present but unreferenced, and one PutObject for
   * a new one, sent without asking first whether it is there (a content-addressed PUT is idempotent). The
   * store checks a small object's bytes itself (x-amz-checksum-sha256 and Content-MD5) and its answer is
   * compared with the SHA-256 (or, from stores that ignore checksums, the MD5 ETag); only when the answer
   * confirms nothing, and for objects sent in parts, is the object read back.
   */
  async putObject(content: ObjectContent, known?: (sha256: string) => KnownObject | undefined): Promise<PutObjectResult> {
    const taken = await this.take(await content.open());
    try {
      const { sha256, sizeBytes } = taken;
      // Two files with the same content in one snapshot: the second waits for the first's requests and sends none.
      const first = this.inFlight.get(sha256);
      if (first && (await first)) return { sha256, sizeBytes, stored: false };
      let settle!: (stored: boolean) => void;
      const storing = new Promise<boolean>((resolve) => (settle = resolve));
      this.inFlight.set(sha256, storing);
      let result: PutObjectResult | undefined;
      try {
        result = await this.storeTaken(taken, known);
        return result;
      } finally {
        if (this.inFlight.get(sha256) === storing) this.inFlight.delete(sha256);
        settle(result !== undefined && (!result.stored || result.readBackSha256 === sha256));
      }
    } finally {
      if (taken.staged) await rm(taken.staged, { force: true });
    }
  }

  private async storeTaken(taken: Taken, known?: (sha256: string) => KnownObject | undefined): Promise<PutObjectResult> {
    const { sha256, md5, sizeBytes } = taken;
    const key = this.objectKey(sha256);
    const already = known?.(sha256);
    if (already === 'referenced') return { sha256, sizeBytes, stored: false };
    if (already === 'present') {
      // Copy onto itself: a fresh LastModified keeps a running sweep from taking it.
      const touched = await this.send(new CopyObjectCommand({ Bucket: this.bucket, Key: key, CopySource: `${this.bucket}/${key}`, MetadataDirective: 'REPLACE' }), 'CopyObject', key).then(
        () => true,
        (error: unknown) => {
          // Gone since it was listed: stored again below.
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
          throw error;
        },
      );
      if (touched) return { sha256, sizeBytes, stored: false };
    }
    if (taken.bytes) {
      const answer = await this.send<PutObjectCommandOutput>(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: taken.bytes,
          ContentLength: sizeBytes,
          ContentMD5: Buffer.from(md5, 'hex').toString('base64'),
          ChecksumSHA256: Buffer.from(sha256, 'hex').toString('base64'),
        }),
        'PutObject',
        key,
      );
      if (confirmedSha256(answer, sha256, md5) === sha256) return { sha256, sizeBytes, stored: true, readBackSha256: sha256, verifiedBy: answer.ChecksumSHA256 ? 'store-checksum' : 'etag' };
    } else {
      await this.uploadFile(taken.staged!, sizeBytes, key, key);
    }
    // Not confirmed by the answer (an ETag that is no MD5, one that differs), or sent in parts: read back.
    const readBackSha256 = await this.hashKey(key, key);
    // Stored wrong: not left under its name, where the next snapshot would take it for good.
    if (readBackSha256 !== sha256) await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })).catch(() => {});
    return { sha256, sizeBytes, stored: true, readBackSha256, verifiedBy: 'read-back' };
  }

  /** Every object the repository holds: listed in pages of a thousand, where a HEAD per object costs a round trip each. */
  async presentObjects(signal: AbortSignal): Promise<Set<string>> {
    const present = new Set<string>();
    for await (const object of this.objects(`${OBJECTS_DIR}/`, signal)) {
      const sha256 = object.key.split('/').at(-1) ?? '';
      if (/^[0-9a-f]{64}$/.test(sha256)) present.add(sha256);
    }
    return present;
  }

  // An S3 PUT that answered is durable.
  async flushObjects(): Promise<void> {}

  hashObject(sha256: string): Promise<string> {
    return this.hashKey(this.objectKey(sha256), `object ${sha256}`);
  }

  async readManifest(id: string): Promise<unknown> {
    if (!/^[a-z]+-\d{8}T\d{6}Z-[0-9a-f]{4}$/.test(id)) throw new Error(`not a backup id: ${id}`);
    return JSON.parse(await this.text(`${MANIFEST_DIR}/${id}.json`)) as unknown;
  }

  async hasManifest(id: string): Promise<boolean> {
    const key = `${MANIFEST_DIR}/${id}.json`;
    return this.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.full(key) }), 'HeadObject', key).then(
      () => true,
      (error: unknown) => {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw error;
      },
    );
  }

  async openObject(sha256: string): Promise<NodeJS.ReadableStream> {
    const object = await this.send<GetObjectCommandOutput>(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(sha256) }), 'GetObject', `object ${sha256}`);
    return object.Body as Readable;
  }

  // Downloaded into staging (a temp name), so an interrupted restore's leftovers go with cleanStaging().
  async localFile(key: string): Promise<LocalBackupFile> {
    const staged = await this.stage(key);
    try {
      const object = await this.send<GetObjectCommandOutput>(new GetObjectCommand({ Bucket: this.bucket, Key: this.full(key) }), 'GetObject', key);
      await pipeline(object.Body as Readable, createWriteStream(staged, { flags: 'wx', mode: 0o600 }));
    } catch (error) {
      await rm(staged, { force: true });
      throw error;
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
    await this.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(sha256) }), 'DeleteObject', `object ${sha256}`);
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

  private async uploadFile(file: string, sizeBytes: number, fullKey: string, shownKey: string): Promise<void> {
    try {
      await new Upload({ client: this.client, params: { Bucket: this.bucket, Key: fullKey, Body: createReadStream(file), ContentLength: sizeBytes } }).done();
    } catch (error) {
      throw s3Failure(error, this.place, 'upload', shownKey);
    }
  }

  /**
   * Reads content once, hashing it (SHA-256 and MD5): kept in memory up to SINGLE_PUT_MAX_BYTES, so a small
   * object goes up with no local copy (and a retried PUT can send it again); past that, spilled to a staged file.
   */
  private async take(content: NodeJS.ReadableStream): Promise<Taken> {
    const sha = createHash('sha256');
    const md5 = createHash('md5');
    const chunks: Buffer[] = [];
    let sizeBytes = 0;
    let staged: string | undefined;
    let file: WriteStream | undefined;
    try {
      for await (const raw of content as AsyncIterable<Buffer | string>) {
        const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
        sha.update(chunk);
        md5.update(chunk);
        sizeBytes += chunk.length;
        if (!file) {
          chunks.push(chunk);
          if (sizeBytes <= SINGLE_PUT_MAX_BYTES) continue;
          staged = await this.stage('object');
          file = createWriteStream(staged, { flags: 'wx', mode: 0o600 });
          for (const held of chunks.splice(0)) if (!file.write(held)) await once(file, 'drain');
        } else if (!file.write(chunk)) await once(file, 'drain');
      }
      if (file) {
        file.end();
        await finished(file);
      }
    } catch (error) {
      file?.destroy();
      if (staged) await rm(staged, { force: true });
      throw error;
    }
    const hashes = { sha256: sha.digest('hex'), md5: md5.digest('hex'), sizeBytes };
    return staged ? { ...hashes, staged } : { ...hashes, bytes: Buffer.concat(chunks, sizeBytes) };
  }

  private async hashKey(fullKey: string, shownKey: string): Promise<string> {
    const hash = createHash('sha256');
    const object = await this.send<GetObjectCommandOutput>(new GetObjectCommand({ Bucket: this.bucket, Key: fullKey }), 'GetObject', shownKey);
    try {
      await pipeline(object.Body as Readable, hash);
    } catch (error) {
      throw s3Failure(error, this.place, 'GetObject (reading the body)', shownKey);
    }
    return hash.digest('hex');
  }

  private async text(relativeKey: string, signal?: AbortSignal): Promise<string> {
    const object = await this.send<GetObjectCommandOutput>(new GetObjectCommand({ Bucket: this.bucket, Key: this.full(relativeKey) }), 'GetObject', relativeKey, signal);
    return (await object.Body?.transformToString('utf8')) ?? '';
  }

  private async *keys(relativePrefix: string, signal?: AbortSignal): AsyncIterable<string> {
    for await (const object of this.objects(relativePrefix, signal)) yield object.key.slice(this.prefixPath().length);
  }

  private async *objects(relativePrefix: string, signal?: AbortSignal): AsyncIterable<{ key: string; mtimeMs: number; sizeBytes: number }> {
    let token: string | undefined;
    do {
      const page = await this.send<ListObjectsV2CommandOutput>(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.full(relativePrefix), ContinuationToken: token }),
        'ListObjectsV2',
        undefined,
        signal,
      );
      for (const object of page.Contents ?? []) {
        if (object.Key) yield { key: object.Key, mtimeMs: object.LastModified?.getTime() ?? 0, sizeBytes: object.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
}

/**
 * The SHA-256 a PutObject answer vouches for: the store's own x-amz-checksum-sha256 when it returns one (it
 * checked the bytes against the one sent), else the ETag when it is a plain MD5 equal to the content's
 * (single-part PUTs without SSE-KMS). Undefined when the answer proves nothing either way.
 */
export function confirmedSha256(answer: { ChecksumSHA256?: string | undefined; ETag?: string | undefined }, sha256: string, md5: string): string | undefined {
  if (answer.ChecksumSHA256) {
    const stored = Buffer.from(answer.ChecksumSHA256, 'base64').toString('hex');
    return stored === sha256 ? sha256 : undefined;
  }
  const etag = answer.ETag?.replace(/"/g, '').toLowerCase();
  return etag && /^[0-9a-f]{32}$/.test(etag) && etag === md5 ? sha256 : undefined;
}

