import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { tapStream } from '../../backup/file-hash.ts';
import type { EncryptionInfo } from '../../backup/encryption.ts';
import { DrError } from '../../domain/errors.ts';
import type { BackupSummary, LocalBackupFile, ObjectContent, PutObjectResult, StoredFile, WritableBackupRepository } from '../../ports/backup-repository.ts';
import type { FileCipher } from '../../ports/file-cipher.ts';

/**
 * A repository whose every stored byte is encrypted (DR_BACKUP_KEY set): database copies, config archives and
 * document objects go in as age files, and come back out decrypted. Names and manifests stay as they were:
 * objects are still named by the SHA-256 of their plaintext (so content is stored once, as restic does), and
 * a manifest's SHA-256 is the plaintext's, checked after decryption. Files stored before encryption (or with no
 * key) are not age files and are read as they are, so old backups still restore. The local and S3 repositories
 * underneath neither know nor care; staged files (a database copy being checked) are plaintext for the few
 * moments before commit(), in the repository's private staging folder (mode 0700, files 0600).
 */
export class EncryptedBackupRepository implements WritableBackupRepository {
  readonly upload?: WritableBackupRepository['upload'];
  readonly readStream?: WritableBackupRepository['readStream'];

  constructor(
    private readonly inner: WritableBackupRepository,
    private readonly cipher: FileCipher,
  ) {
    if (inner.upload) this.upload = (key, write, signal) => this.uploadEncrypted(key, write, signal);
    if (inner.readStream) this.readStream = (key, signal) => this.readDecrypted(key, signal);
  }

  get location(): string {
    return this.inner.location;
  }

  get commitMovesFile(): boolean {
    return this.inner.commitMovesFile;
  }

  /** How new backups are encrypted: what their manifests record. */
  get encryption(): EncryptionInfo {
    return this.cipher.info;
  }

  listBackups(signal: AbortSignal): Promise<BackupSummary[]> {
    return this.inner.listBackups(signal);
  }

  async probe(signal: AbortSignal): Promise<void> {
    await this.inner.probe?.(signal);
  }

  hasManifest(id: string): Promise<boolean> {
    return this.inner.hasManifest(id);
  }

  readManifest(id: string): Promise<unknown> {
    return this.inner.readManifest(id);
  }

  writeManifest(id: string, manifest: object, namedFirst?: Promise<void>): Promise<void> {
    return this.inner.writeManifest(id, manifest, namedFirst);
  }

  stage(name: string): Promise<string> {
    return this.inner.stage(name);
  }

  async discard(pathOrKey: string): Promise<void> {
    await this.prepared.get(pathOrKey)?.catch(() => {});
    this.prepared.delete(pathOrKey);
    await this.inner.discard(pathOrKey);
    if (path.isAbsolute(pathOrKey)) await this.inner.discard(sealedPath(pathOrKey));
  }

  cleanStaging(): Promise<number> {
    return this.inner.cleanStaging();
  }

  flushObjects(objects: readonly string[]): Promise<void> {
    return this.inner.flushObjects(objects);
  }

  removeBackup(id: string, keys: readonly string[]): Promise<void> {
    return this.inner.removeBackup(id, keys);
  }

  listObjects(): AsyncIterable<{ sha256: string; mtimeMs: number; sizeBytes: number }> {
    return this.inner.listObjects();
  }

  removeObject(sha256: string): Promise<void> {
    return this.inner.removeObject(sha256);
  }

  // Staged files already encrypted (beside a producer's check), by path: their plaintext's SHA-256.
  private readonly prepared = new Map<string, Promise<string>>();

  /** Encrypts a finished staged file into its sibling, hashing the plaintext: the one read of the copy. */
  prepareStaged(stagedPath: string): Promise<string> {
    const sealing = this.encryptFile(stagedPath, sealedPath(stagedPath)).then((done) => done.sha256);
    this.prepared.set(stagedPath, sealing);
    sealing.catch(() => {});
    return sealing;
  }

  /**
   * Encrypts the staged plaintext into a sibling (hashing the plaintext on the way), unless prepareStaged() did,
   * and commits that; the SHA-256 returned, and recorded in the manifest, is the plaintext's.
   */
  async commit(stagedPath: string, key: string, knownSha256?: string): Promise<StoredFile> {
    const sealed = sealedPath(stagedPath);
    const prepared = this.prepared.get(stagedPath);
    this.prepared.delete(stagedPath);
    try {
      const sha256 = prepared ? await prepared : (await this.encryptFile(stagedPath, sealed)).sha256;
      // Hashed again while encrypting: a staged file that changed after its producer hashed it is refused.
      if (knownSha256 !== undefined && knownSha256 !== sha256) throw new DrError('BACKUP_FAILED', `${key} changed while it was being encrypted (SHA-256 ${sha256.slice(0, 8)}, produced as ${knownSha256.slice(0, 8)})`);
      // The repository underneath does not check the SHA-256 it is given, it only hands it back.
      const stored = await this.inner.commit(sealed, key, sha256);
      return { key, sizeBytes: stored.sizeBytes, sha256 };
    } finally {
      await rm(sealed, { force: true });
      await rm(stagedPath, { force: true });
    }
  }

  /** SHA-256 of a stored file's plaintext, decrypted as it is read (verification). */
  async hash(key: string): Promise<string> {
    const hash = createHash('sha256');
    await this.readStored(key, async (stored) => {
      const decrypting = this.cipher.decrypt();
      const hashing = pipeline(stored, decrypting, hash);
      // Failing to open (a wrong key) fails this pipeline too: reported once, below.
      hashing.catch(() => {});
      await this.opened(decrypting.ready, backupOf(key));
      await hashing.catch((error: unknown) => rethrow(error, backupOf(key)));
    });
    return hash.digest('hex');
  }

  /** A stored file decrypted into the staging folder (as a plain file for tools that need one); one stored in clear as it is. */
  async localFile(key: string): Promise<LocalBackupFile> {
    const stored = await this.inner.localFile(key);
    try {
      if (!(await startsEncrypted(stored.path, this.cipher))) return stored;
      const plain = await this.inner.stage(path.basename(key));
      try {
        const decrypting = this.cipher.decrypt();
        const writing = pipeline(createReadStream(stored.path, { highWaterMark: 1024 * 1024 }), decrypting, createWriteStream(plain, { flags: 'wx', mode: 0o600 }));
        writing.catch(() => {});
        await this.opened(decrypting.ready, backupOf(key));
        await writing.catch((error: unknown) => rethrow(error, backupOf(key)));
      } catch (error) {
        await rm(plain, { force: true });
        throw error;
      }
      await stored.release();
      return { path: plain, release: () => rm(plain, { force: true }) };
    } catch (error) {
      await stored.release();
      throw error;
    }
  }

  /**
   * Encrypts an object under the SHA-256 of its plaintext. It is stored each time it is put, even when an object
   * of that name is there: that one may be in clear (stored before encryption) or under another key, and storing
   * it again is also what tells a running sweep that it is wanted. A snapshot only puts files that changed.
   */
  async putObject(content: ObjectContent): Promise<PutObjectResult> {
    const staged = await this.inner.stage('object.age');
    try {
      const source = content.localPath !== undefined ? createReadStream(content.localPath, { highWaterMark: 1024 * 1024 }) : await content.open();
      const { sha256, sizeBytes } = await this.encryptStream(source, staged);
      await this.inner.commit(staged, objectKey(sha256), sha256);
      // Read back and decrypted at once: what is stored must give the content it was stored for.
      const readBackSha256 = await this.hashObject(sha256).catch(() => 'unreadable');
      if (readBackSha256 !== sha256) await this.inner.removeObject(sha256).catch(() => {});
      return { sha256, sizeBytes, stored: true, readBackSha256 };
    } finally {
      await rm(staged, { force: true });
    }
  }

  async hashObject(sha256: string): Promise<string> {
    const hash = createHash('sha256');
    await pipeline(await this.openObject(sha256), hash).catch((error: unknown) => rethrow(error, `object ${sha256.slice(0, 12)}`));
    return hash.digest('hex');
  }

  /** An object's plaintext; an object this key cannot open fails here, before anything is written from it. */
  async openObject(sha256: string): Promise<NodeJS.ReadableStream> {
    const stored = await this.inner.openObject(sha256);
    const decrypting = this.cipher.decrypt();
    pipeline(stored, decrypting).catch(() => {});
    await this.opened(decrypting.ready, `object ${sha256.slice(0, 12)}`);
    return decrypting;
  }

  // Streamed dumps (S3 multipart): the producer writes plaintext, the store receives the age file.
  private uploadEncrypted<T>(key: string, write: (out: NodeJS.WritableStream) => Promise<T>, signal: AbortSignal): Promise<{ result: T; sizeBytes: number }> {
    return this.inner.upload!(
      key,
      async (out) => {
        const encrypting = this.cipher.encrypt();
        // Not ended here: the store commits the upload when its own body ends, after the producer succeeded.
        const flowing = pipeline(encrypting, out, { end: false });
        flowing.catch(() => {});
        let result: T;
        try {
          result = await write(encrypting);
        } catch (error) {
          encrypting.destroy(error as Error);
          throw error;
        }
        encrypting.end();
        await flowing;
        return result;
      },
      signal,
    );
  }

  private async readDecrypted(key: string, signal: AbortSignal): Promise<NodeJS.ReadableStream> {
    const stored = await this.inner.readStream!(key, signal);
    const decrypting = this.cipher.decrypt();
    pipeline(stored, decrypting).catch(() => {});
    await this.opened(decrypting.ready, backupOf(key));
    return decrypting;
  }

  // A stored file as a stream, whichever way the repository underneath offers it.
  private async readStored(key: string, use: (stream: NodeJS.ReadableStream) => Promise<void>): Promise<void> {
    if (this.inner.readStream) return use(await this.inner.readStream(key, new AbortController().signal));
    const local = await this.inner.localFile(key);
    try {
      await use(createReadStream(local.path, { highWaterMark: 1024 * 1024 }));
    } finally {
      await local.release();
    }
  }

  // Waits until the decrypting stream knows the file is in clear or opens with this key; names what it is otherwise.
  private async opened(ready: Promise<unknown>, what: string): Promise<void> {
    await ready.catch((error: unknown) => rethrow(error, what));
  }

  private async encryptFile(file: string, target: string): Promise<{ sha256: string; sizeBytes: number }> {
    return this.encryptStream(createReadStream(file, { highWaterMark: 1024 * 1024 }), target);
  }

  // One pass: the plaintext is hashed and counted on its way into the cipher, the age file written to `target`.
  private async encryptStream(source: NodeJS.ReadableStream, target: string): Promise<{ sha256: string; sizeBytes: number }> {
    const hash = createHash('sha256');
    let sizeBytes = 0;
    const tap = tapStream((chunk) => {
      hash.update(chunk);
      sizeBytes += chunk.length;
    });
    await pipeline(source, tap, this.cipher.encrypt(), createWriteStream(target, { flags: 'wx', mode: 0o600 }));
    return { sha256: hash.digest('hex'), sizeBytes };
  }
}

// Where a staged file's encrypted twin is written before it is committed.
function sealedPath(stagedPath: string): string {
  return `${stagedPath}.age`;
}

function objectKey(sha256: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a SHA-256: ${sha256}`);
  return `objects/${sha256.slice(0, 2)}/${sha256}`;
}

// A stored file's key names its backup: `db/db-20261126T030500Z-3f9a.sqlite` → `backup db-20261126T030500Z-3f9a`.
function backupOf(key: string): string {
  const id = /([a-z]+-\d{8}T\d{6}Z-[0-9a-f]{4})/.exec(key)?.[1];
  return id ? `backup ${id}` : key;
}

// Decryption failures as one DrError naming what could not be read; anything else unchanged.
function rethrow(error: unknown, what: string): never {
  const reason = (error as { reason?: unknown }).reason;
  if (reason === 'key') {
    throw new DrError('RESTORE_FAILED', `${what} cannot be decrypted: DR_BACKUP_KEY is not the key it was encrypted with`, {
      hint: 'Set DR_BACKUP_KEY to the key in use when it was taken (its fingerprint is in the manifest).',
      cause: error,
    });
  }
  if (reason === 'damaged') throw new DrError('RESTORE_FAILED', `${what} is damaged: ${(error as Error).message}`, { cause: error });
  throw error;
}

// Whether a local file is in this cipher's format (read only its first bytes).
async function startsEncrypted(file: string, cipher: FileCipher): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(64);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return cipher.recognises(head.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}
