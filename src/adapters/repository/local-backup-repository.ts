import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, chmod, constants, mkdir, open, readdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { release } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { sha256OfFile } from '../../backup/file-hash.ts';
import { MANIFEST_DIR, summarizeManifest } from '../../backup/manifest.ts';
import { mapConcurrent } from '../../domain/concurrency.ts';
import { processAlive, THIS_PROCESS } from '../process-owner.ts';
import type { BackupSummary, KnownObject, LocalBackupFile, ObjectContent, PutObjectResult, StoredFile, WritableBackupRepository } from '../../ports/backup-repository.ts';
import { fsWorkers } from '../storage/fs-worker-pool.ts';

const execFileAsync = promisify(execFile);

// Staged files live inside the repository, on its filesystem, so committing one is a rename.
const STAGING_DIR = '.staging';
// fsyncs in flight when a snapshot's objects are flushed one by one (the fallback): more at once, fewer journal commits.
const FLUSHES_AT_ONCE = 32;

/** Whether syncfs reports writeback errors on this kernel (Linux 5.8 and later); before, it always succeeds. */
export function syncfsReportsErrors(platform: string = process.platform, kernel: string = release()): boolean {
  const [major = 0, minor = 0] = (/^(\d+)\.(\d+)/.exec(kernel) ?? []).slice(1).map(Number);
  return platform === 'linux' && (major > 5 || (major === 5 && minor >= 8));
}
const SYNCFS_REPORTS_ERRORS = syncfsReportsErrors();

/** Document snapshots store file contents here, keyed by SHA-256. */
export const OBJECTS_DIR = 'objects';

/** A backup repository in a local (or mounted) folder. */
export class LocalBackupRepository implements WritableBackupRepository {
  readonly commitMovesFile = true;

  // Local files are copied into objects, and objects re-hashed, on the file-system worker threads.
  private readonly objectStaging: string;

  constructor(private readonly root: string) {
    this.objectStaging = path.join(root, STAGING_DIR, stagedName('objects'));
  }

  get location(): string {
    return this.root;
  }

  async probe(): Promise<void> {
    try {
      await access(this.root, constants.W_OK);
    } catch (error) {
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      throw new Error(`repository ${this.root} ${missing ? 'does not exist (is its volume mounted?)' : 'is not writable'}`);
    }
  }

  async listBackups(signal: AbortSignal): Promise<BackupSummary[]> {
    await this.probe();
    const dir = path.join(this.root, MANIFEST_DIR);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const summaries: BackupSummary[] = [];
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      if (signal.aborted) throw signal.reason;
      const summary = summarizeManifest(await readFile(path.join(dir, name), 'utf8'));
      if (summary) summaries.push(summary);
    }
    return summaries;
  }

  async stage(name: string): Promise<string> {
    const dir = path.join(this.root, STAGING_DIR);
    await this.ensureDir(dir, 0o700);
    return path.join(dir, stagedName(name));
  }

  // Folders already made in this process: a snapshot of 20,000 files must not mkdir 40,000 times.
  private readonly madeDirs = new Set<string>();

  private async ensureDir(dir: string, mode?: number): Promise<void> {
    if (this.madeDirs.has(dir)) return;
    await mkdir(dir, { recursive: true, ...(mode === undefined ? {} : { mode }) });
    this.madeDirs.add(dir);
  }

  async commit(stagedPath: string, key: string, knownSha256?: string): Promise<StoredFile> {
    const sha256 = knownSha256 ?? (await sha256OfFile(stagedPath));
    const target = this.pathOf(key);
    await mkdir(path.dirname(target), { recursive: true });
    await fsyncFile(stagedPath);
    // Backups hold the DMS's data (and, for config, its secrets): readable by the bot's user only.
    await chmod(stagedPath, 0o600);
    const { size } = await stat(stagedPath);
    await rename(stagedPath, target);
    await fsyncDir(path.dirname(target));
    return { key, sizeBytes: size, sha256 };
  }

  hash(key: string): Promise<string> {
    return sha256OfFile(this.pathOf(key));
  }

  async writeManifest(id: string, manifest: object, namedFirst?: Promise<void>): Promise<void> {
    const dir = path.join(this.root, MANIFEST_DIR);
    await mkdir(dir, { recursive: true });
    const staged = await this.stage(`${id}.json`);
    try {
      const handle = await open(staged, 'wx', 0o600);
      try {
        // Compact: a document snapshot's manifest lists every file, and is read back by the next snapshot.
        await handle.writeFile(`${JSON.stringify(manifest)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await namedFirst;
      await rename(staged, path.join(dir, `${id}.json`));
    } catch (error) {
      await rm(staged, { force: true });
      throw error;
    }
    try {
      await fsyncDir(dir);
    } catch (error) {
      // A manifest whose entry may not survive a crash is no backup: the run fails, and leaves none.
      await rm(path.join(dir, `${id}.json`), { force: true });
      throw error;
    }
  }

  async discard(pathOrKey: string): Promise<void> {
    await rm(path.isAbsolute(pathOrKey) ? pathOrKey : this.pathOf(pathOrKey), { force: true, recursive: true });
  }

  cleanStaging(): Promise<number> {
    return removeAbandonedStaging(path.join(this.root, STAGING_DIR));
  }

  // What the snapshot knows of an object is not needed here: asking the folder costs a stat, not a round trip.
  async putObject(content: ObjectContent, _known?: (sha256: string) => KnownObject | undefined): Promise<PutObjectResult> {
    if (content.localPath !== undefined) return fsWorkers.run('put', { file: content.localPath, objectsDir: path.join(this.root, OBJECTS_DIR), stagingDir: this.objectStaging });
    const staged = await this.stage('object');
    try {
      const { sha256, sizeBytes } = await writeHashed(await content.open(), staged);
      const target = this.objectPath(sha256);
      if (await exists(target)) {
        await rm(staged, { force: true });
        // Fresh again: a sweep running now must not take an object this snapshot is about to reference.
        const now = new Date();
        await utimes(target, now, now);
        return { sha256, sizeBytes, stored: false };
      }
      await this.ensureDir(path.dirname(target));
      await rename(staged, target);
      const readBackSha256 = await sha256OfFile(target);
      // Stored wrong: not left under its name, where the next snapshot would take it for good.
      if (readBackSha256 !== sha256) await rm(target, { force: true });
      return { sha256, sizeBytes, stored: true, readBackSha256 };
    } catch (error) {
      await rm(staged, { force: true });
      throw error;
    }
  }

  /**
   * Flushes the objects a snapshot copied before its manifest names them: one `sync --file-system` (syncfs).
   * For 200 new objects it takes 7–10 ms where an fsync of each object and folder takes 30–60 ms, and for
   * thousands far less. It also waits for whatever else is dirty on the repository's filesystem, which is one
   * more reason to keep a repository off the data's own disk. Before Linux 5.8 syncfs succeeds whatever the
   * disk said, so there, or where that tool is missing or fails: an fsync of each object and of its folder.
   */
  async flushObjects(objects: readonly string[]): Promise<void> {
    if (objects.length === 0) return;
    if (SYNCFS_REPORTS_ERRORS) {
      const flushed = await execFileAsync('sync', ['--file-system', path.join(this.root, OBJECTS_DIR)]).then(
        () => true,
        () => false,
      );
      if (flushed) return;
    }
    // Two files with the same content name one object: flushed once.
    const paths = [...new Set(objects)].map((sha256) => this.objectPath(sha256));
    const flushes = [...paths.map((file) => () => fsyncFile(file, 'r')), ...[...new Set(paths.map((file) => path.dirname(file)))].map((dir) => () => fsyncDir(dir))];
    await mapConcurrent(flushes, FLUSHES_AT_ONCE, (flush) => flush());
  }

  async hashObject(sha256: string): Promise<string> {
    return (await fsWorkers.run('hash', { file: this.objectPath(sha256) })).sha256;
  }

  async readManifest(id: string): Promise<unknown> {
    if (!/^[a-z]+-\d{8}T\d{6}Z-[0-9a-f]{4}$/.test(id)) throw new Error(`not a backup id: ${id}`);
    return JSON.parse(await readFile(path.join(this.root, MANIFEST_DIR, `${id}.json`), 'utf8')) as unknown;
  }

  async hasManifest(id: string): Promise<boolean> {
    if (!/^[a-z]+-\d{8}T\d{6}Z-[0-9a-f]{4}$/.test(id)) throw new Error(`not a backup id: ${id}`);
    return exists(path.join(this.root, MANIFEST_DIR, `${id}.json`));
  }

  async openObject(sha256: string): Promise<NodeJS.ReadableStream> {
    // Opened now, not when first read: a missing object fails here, before anything is written from it.
    const handle = await open(this.objectPath(sha256), 'r').catch((error: unknown) => {
      throw notFoundAs(error, `object ${sha256} is not in the repository ${this.root}`);
    });
    return handle.createReadStream({ highWaterMark: 1024 * 1024 });
  }

  // Stored files are complete and never rewritten in place, so tools may read the stored file itself.
  async localFile(key: string): Promise<LocalBackupFile> {
    const file = this.pathOf(key);
    await access(file, constants.R_OK).catch((error: unknown) => {
      throw notFoundAs(error, `${key} is not in the repository ${this.root}`);
    });
    return { path: file, release: async () => {} };
  }

  async removeBackup(id: string, keys: readonly string[]): Promise<void> {
    if (!/^[a-z]+-\d{8}T\d{6}Z-[0-9a-f]{4}$/.test(id)) throw new Error(`not a backup id: ${id}`);
    await rm(path.join(this.root, MANIFEST_DIR, `${id}.json`), { force: true });
    await fsyncDir(path.join(this.root, MANIFEST_DIR));
    for (const key of keys) await rm(this.pathOf(key), { force: true });
  }

  async *listObjects(): AsyncIterable<{ sha256: string; mtimeMs: number; sizeBytes: number }> {
    const root = path.join(this.root, OBJECTS_DIR);
    for (const fan of await readdir(root).catch(() => [] as string[])) {
      for (const name of await readdir(path.join(root, fan)).catch(() => [] as string[])) {
        if (!/^[0-9a-f]{64}$/.test(name)) continue;
        const stats = await stat(path.join(root, fan, name)).catch(() => undefined);
        if (stats) yield { sha256: name, mtimeMs: stats.mtimeMs, sizeBytes: stats.size };
      }
    }
  }

  async removeObject(sha256: string): Promise<void> {
    await rm(this.objectPath(sha256), { force: true });
  }

  // Objects fan out over 256 folders by their first two hex digits, as git does.
  private objectPath(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a SHA-256: ${sha256}`);
    return path.join(this.root, OBJECTS_DIR, sha256.slice(0, 2), sha256);
  }

  // Keys come from the bot, never from users; the check keeps a bad one from escaping the repository.
  private pathOf(key: string): string {
    const full = path.resolve(this.root, key);
    if (!full.startsWith(`${path.resolve(this.root)}${path.sep}`)) throw new Error(`key escapes the repository: ${key}`);
    return full;
  }
}

/** Removes everything in a folder (a missing folder is empty); returns how many entries went. */
/** A staged file's name: this process, a random part, and what it will be, so leftovers can be told from live work. */
export function stagedName(name: string): string {
  return `${THIS_PROCESS}.${randomBytes(6).toString('hex')}-${path.basename(name)}`;
}

// Another host's staged file is only taken for abandoned after this long (its process cannot be asked).
const FOREIGN_STAGING_MAX_AGE_MS = 24 * 3_600_000;

/**
 * Removes staged files whose process is gone (a crash, a kill -9), never those of a live process: a CLI
 * started during a long restore must not delete the dump the bot is restoring from. Returns how many.
 */
export async function removeAbandonedStaging(dir: string): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const owner = /^(.+\.\d+)\.[0-9a-f]{12}-/.exec(name)?.[1];
    const alive = owner ? processAlive(owner) : false;
    if (alive === true) continue;
    const file = path.join(dir, name);
    if (alive === undefined) {
      const age = Date.now() - ((await stat(file).catch(() => undefined))?.mtimeMs ?? 0);
      if (age < FOREIGN_STAGING_MAX_AGE_MS) continue;
    }
    await rm(file, { force: true, recursive: true });
    removed += 1;
  }
  return removed;
}

/** Writes a stream to a new file (mode 0600), hashing it on the way: one pass. */
export async function writeHashed(content: NodeJS.ReadableStream, file: string): Promise<{ sha256: string; sizeBytes: number }> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  await pipeline(
    content,
    async function* (source: AsyncIterable<string | Buffer>) {
      for await (const chunk of source) {
        hash.update(chunk);
        sizeBytes += Buffer.byteLength(chunk);
        yield chunk;
      }
    },
    createWriteStream(file, { mode: 0o600 }),
  );
  return { sha256: hash.digest('hex'), sizeBytes };
}

/** A "not there" error as one message with code ENOENT; any other error unchanged. */
export function notFoundAs(error: unknown, message: string): unknown {
  return (error as NodeJS.ErrnoException).code === 'ENOENT' || (error as { name?: string }).name === 'NoSuchKey'
    ? Object.assign(new Error(message), { code: 'ENOENT' })
    : error;
}

/** Flushes a file's bytes to disk. */
export async function fsyncFile(file: string, flags: 'r' | 'r+' = 'r+'): Promise<void> {
  const handle = await open(file, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Flushes a directory's entries to disk: a rename is durable only once its entry is. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(() => true, () => false);
}
