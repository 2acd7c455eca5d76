import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { constants } from 'node:fs';
import { access, chmod, chown, copyFile, link, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { DrError, errorText } from '../../domain/errors.ts';
import type { DatabaseInspection, DatabaseRef, DatabaseRestorer, SwapOptions } from '../../ports/dms.ts';

/** What a restore label may look like: it becomes part of file and database names. */
export const RESTORE_LABEL = /^[A-Za-z0-9_-]{1,40}$/;

/** Throws unless `label` is safe inside a file or database name (no `/`, `.`, spaces, at most 40 characters). */
export function assertRestoreLabel(label: string): void {
  if (!RESTORE_LABEL.test(label)) throw new DrError('RESTORE_FAILED', `restore label ${JSON.stringify(label)} must be 1-40 letters, digits, '_' or '-'`);
}

type InspectAnswer = { ok: true; integrity: string; counts: DatabaseInspection['counts'] } | { ok: false; code?: string; message: string };

// Codes where the file itself is damaged, as opposed to missing or locked.
const CORRUPTION_CODES = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB']);
const ZERO_COUNTS = { documents: 0, users: 0, tenants: 0 };
const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
// SQLite finds these beside a database by name alone. A `-wal` or hot `-journal` left beside a file that
// is not the one it was written for gets replayed onto it on the next open, so they move with their database.
const SIDE_FILES = ['-wal', '-journal', '-shm'] as const;
// A live database still open elsewhere (a status probe finishing, say) gets a few short chances to close.
// SQLite's busy handler sleeps on the calling thread, so each wait is short and the pauses between are async.
const BUSY_TIMEOUT_MS = 250;
const IN_USE_ATTEMPTS = 5;
const IN_USE_PAUSE_MS = 300;

/**
 * Restores SQLite backups beside the live DMS file (`<live>.restore-<label>`) and swaps them in with one
 * `rename`, keeping the old file as `<live>.pre-<label>` (a hard link: no copy, instant).
 */
export class SqliteRestorer implements DatabaseRestorer {
  readonly engine = 'sqlite' as const;
  private readonly live: string;

  constructor(livePath: string) {
    this.live = path.resolve(livePath);
  }

  async restoreToScratch(dumpFile: string, label: string, signal: AbortSignal): Promise<DatabaseRef> {
    assertRestoreLabel(label);
    const target = this.scratchFor(label).name;
    if (await exists(target)) throw new DrError('RESTORE_FAILED', `${target} already exists; drop it or use another label`);
    if (!(await hasSqliteHeader(dumpFile))) throw new DrError('RESTORE_FAILED', `${dumpFile} is not a SQLite database file`);
    // Written under a temporary name and renamed when complete, so `target` is never a partial copy.
    // Leftovers of a crashed attempt go first: a stale `-wal` would be replayed onto the fresh copy.
    const partial = `${target}.partial`;
    await removeWithSideFiles(partial);
    await removeSideFiles(target);
    try {
      await copyFile(dumpFile, partial);
      signal.throwIfAborted();
      await this.matchLiveFile(partial);
      // The backup is a self-contained rollback-journal file; the DMS usually runs its file in WAL mode.
      // Setting the mode now means the swap does not silently change how the DMS's connections behave.
      settle(partial, (await isWalMode(this.live)) ? 'WAL' : undefined);
      if (await exists(`${partial}-wal`)) throw new Error(`${partial}-wal is still there after closing the copy`);
      await removeSideFiles(partial);
      await fsync(partial);
      await rename(partial, target);
      await fsync(path.dirname(target));
    } catch (error) {
      await removeWithSideFiles(partial).catch(() => {});
      if (signal.aborted) throw signal.reason;
      throw error instanceof DrError ? error : new DrError('RESTORE_FAILED', `restoring ${dumpFile} beside ${this.live} failed: ${errorText(error)}`, { cause: error });
    }
    return ref(target);
  }

  async inspect(target: DatabaseRef, signal: AbortSignal): Promise<DatabaseInspection> {
    if (target.engine !== 'sqlite') throw new DrError('RESTORE_FAILED', `${target.location} is not a SQLite database`);
    signal.throwIfAborted();
    const file = path.resolve(target.name);
    return new Promise((resolve, reject) => {
      // execArgv []: the worker is plain JS; inheriting the TypeScript loader would triple its start-up cost.
      const worker = new Worker(new URL('./sqlite-restore.worker.mjs', import.meta.url), { workerData: { file }, execArgv: [] });
      // A check past its deadline is stuck inside SQLite: only ending the thread stops it.
      const onAbort = () => void worker.terminate().then(() => reject(signal.reason));
      signal.addEventListener('abort', onAbort, { once: true });
      worker.once('message', (answer: InspectAnswer) => {
        signal.removeEventListener('abort', onAbort);
        if (answer.ok) return resolve({ integrity: answer.integrity, counts: answer.counts });
        if (answer.code && CORRUPTION_CODES.has(answer.code)) return resolve({ integrity: `${answer.code}: ${answer.message}`, counts: ZERO_COUNTS });
        reject(new DrError('RESTORE_FAILED', `cannot inspect ${file}: ${answer.code ? `${answer.code}: ` : ''}${answer.message}`));
      });
      worker.once('error', (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      });
      // Settled already when it answered; otherwise the thread died without a word.
      worker.once('exit', (code) => reject(new DrError('RESTORE_FAILED', `the check of ${file} stopped (exit ${code}) without an answer`)));
    });
  }

  async checkSwap(replacement: DatabaseRef, label: string, options: SwapOptions = {}): Promise<void> {
    assertRestoreLabel(label);
    const source = this.sibling(replacement, 'swap in');
    const kept = `${this.live}.pre-${label}`;
    if (source === kept) throw new DrError('RESTORE_FAILED', `cannot swap in ${source} under its own name`);
    if (!(await exists(source))) throw new DrError('RESTORE_FAILED', `${source} does not exist`);
    const keptStat = await stat(kept).catch(() => undefined);
    const liveStat = await stat(this.live).catch(() => undefined);
    if (keptStat && !(liveStat && keptStat.ino === liveStat.ino && keptStat.dev === liveStat.dev)) {
      throw new DrError('RESTORE_FAILED', `${kept} already exists; use another label`);
    }
    // After a complete loss the live file's folder may be gone too: the swap makes it, in the nearest folder there.
    let folder = path.dirname(this.live);
    while (!(await exists(folder)) && path.dirname(folder) !== folder) folder = path.dirname(folder);
    await access(folder, constants.W_OK | constants.X_OK).catch((error: unknown) => {
      throw new DrError('RESTORE_FAILED', `cannot swap in ${source}: the folder ${folder} does not take changes (${errorText(error)})`, { cause: error });
    });
    // A sound replacement is folded into one file now, while the DMS still runs (it is not the live file):
    // one that cannot be (held open elsewhere, say) is refused before anything is stopped.
    if (!(await movesAsBytes(source, options))) await this.settleReplacement(source);
  }

  /**
   * Every step before the `rename` leaves the live file complete and alone; the `rename` replaces it in one
   * step; nothing after it is needed for the new file to be whole. The DMS must be stopped by the caller.
   * A replacement that is not a sound database (`asIs`, or no SQLite header at all) goes in byte for byte:
   * SQLite never opens it, and its `-wal`/`-journal` follow it under the live name.
   */
  async swapIn(replacement: DatabaseRef, label: string, options: SwapOptions = {}): Promise<DatabaseRef | undefined> {
    assertRestoreLabel(label);
    const source = this.sibling(replacement, 'swap in');
    const kept = `${this.live}.pre-${label}`;
    if (source === kept) throw new DrError('RESTORE_FAILED', `cannot swap in ${source} under its own name`);
    if (!(await exists(source))) throw new DrError('RESTORE_FAILED', `${source} does not exist`);
    const asBytes = await movesAsBytes(source, options);
    if (!(await exists(this.live))) return this.moveIntoEmptyPlace(source, kept, asBytes);
    // Both files are folded into single files first, so the `rename` moves the whole database.
    if (asBytes) await unlinkIfPresent(`${source}-shm`); // an index of its -wal, rebuilt from it on the next open
    else await this.settleReplacement(source);
    await this.settleLive();

    // Keep the old database under a second name. A link left by an attempt that died before its rename
    // (same inode as the live file) is reused, so the swap can simply be run again.
    const keptStat = await stat(kept).catch(() => undefined);
    const liveStat = await stat(this.live);
    if (keptStat && (keptStat.ino !== liveStat.ino || keptStat.dev !== liveStat.dev)) {
      throw new DrError('RESTORE_FAILED', `${kept} already exists; use another label`);
    }
    if (!keptStat) {
      await removeSideFiles(kept); // orphans of a dropped file would attach themselves to the link
      await link(this.live, kept);
    }
    // Whatever SQLite could not fold in (the live file was damaged) belongs to the old database.
    for (const side of ['-wal', '-journal'] as const) await moveWithoutReplacing(`${this.live}${side}`, `${kept}${side}`);
    await unlinkIfPresent(`${this.live}-shm`);
    await fsync(source);
    await fsync(path.dirname(this.live));

    await rename(source, this.live);
    if (asBytes) await this.followWithSideFiles(source);
    await fsync(path.dirname(this.live));
    return ref(kept);
  }

  // After a complete loss there is no live file: side files left without it belonged to the lost database
  // (a stale -wal would be replayed onto the new one), so they go aside under the kept name first.
  private async moveIntoEmptyPlace(source: string, kept: string, asBytes: boolean): Promise<undefined> {
    if (asBytes) await unlinkIfPresent(`${source}-shm`);
    else await this.settleReplacement(source);
    for (const side of ['-wal', '-journal'] as const) await moveWithoutReplacing(`${this.live}${side}`, `${kept}${side}`);
    await unlinkIfPresent(`${this.live}-shm`);
    await mkdir(path.dirname(this.live), { recursive: true });
    await fsync(source);
    await rename(source, this.live);
    if (asBytes) await this.followWithSideFiles(source);
    await fsync(path.dirname(this.live));
    return undefined;
  }

  /**
   * The side files of a database moved in as bytes go under the live name after it (before, they would
   * attach themselves to the file still live). A crash in between leaves them under the kept name: not lost.
   */
  private async followWithSideFiles(source: string): Promise<void> {
    for (const side of ['-wal', '-journal'] as const) await moveWithoutReplacing(`${source}${side}`, `${this.live}${side}`);
  }

  scratchFor(label: string): DatabaseRef {
    assertRestoreLabel(label);
    return ref(`${this.live}.restore-${label}`);
  }

  async drop(target: DatabaseRef): Promise<void> {
    const file = this.sibling(target, 'drop');
    await unlinkIfPresent(file);
    await removeSideFiles(file);
    await removeWithSideFiles(`${file}.partial`);
  }

  /** The file a ref names, if it is one this restorer made beside the live file; never the live file itself. */
  private sibling(target: DatabaseRef, action: string): string {
    if (target.engine !== 'sqlite') throw new DrError('RESTORE_FAILED', `cannot ${action} ${target.location}: not a SQLite database`);
    const file = path.resolve(target.name);
    if (file === this.live) throw new DrError('RESTORE_FAILED', `refusing to ${action} ${file}: it is the live database`);
    for (const kind of ['.restore-', '.pre-']) {
      const prefix = `${this.live}${kind}`;
      if (file.startsWith(prefix) && RESTORE_LABEL.test(file.slice(prefix.length))) return file;
    }
    throw new DrError('RESTORE_FAILED', `refusing to ${action} ${file}: not a restored or kept copy of ${this.live}`);
  }

  /** The replacement must end up as one file that nobody holds open: its own WAL (a kept copy may have one) is folded in. */
  private async settleReplacement(file: string): Promise<void> {
    try {
      if (settle(file) === 'busy') throw new Error('another connection holds it');
    } catch (error) {
      throw new DrError('RESTORE_FAILED', `cannot swap in ${file}: ${errorText(error)}`, { cause: error });
    }
    // Our close deletes the `-wal` unless another connection still has the file open.
    if (existsSync(`${file}-wal`)) throw new DrError('RESTORE_FAILED', `cannot swap in ${file}: another process has it open`);
    for (const side of ['-journal', '-shm']) await unlinkIfPresent(`${file}${side}`);
  }

  /**
   * Folds the live WAL into the live file (TRUNCATE checkpoint), so the kept link holds everything. A damaged
   * file (no SQLite header, or one SQLite cannot open) is left exactly as it is: its side files move with it.
   * A file still in use is refused.
   */
  private async settleLive(): Promise<void> {
    // A file without a SQLite header (overwritten, as ransomware does) is never opened: closing even a failed
    // connection would fold its -wal into it and change the very bytes `restore undo` must put back.
    if (!(await hasSqliteHeader(this.live))) return;
    for (let attempt = 1; ; attempt += 1) {
      let problem: string;
      try {
        const outcome = settle(this.live);
        if (outcome === 'settled' && !existsSync(`${this.live}-wal`)) return;
        problem = outcome === 'busy' ? 'a reader kept the checkpoint from finishing' : 'another connection has it open';
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (typeof code !== 'string' || !/^SQLITE_(BUSY|LOCKED)/.test(code)) return;
        problem = `${code}: ${(error as Error).message}`;
      }
      if (attempt === IN_USE_ATTEMPTS) {
        throw new DrError('RESTORE_FAILED', `${this.live} is still in use (${problem}); stop the DMS before swapping`);
      }
      await sleep(IN_USE_PAUSE_MS);
    }
  }

  /** The restored file gets the live file's permissions (and owner, where allowed), or the DMS may not open it. */
  private async matchLiveFile(file: string): Promise<void> {
    const live = await stat(this.live).catch(() => undefined);
    if (!live) return;
    await chmod(file, live.mode & 0o7777);
    await chown(file, live.uid, live.gid).catch(() => {}); // only root may give a file away; then it stays ours
  }
}

/**
 * Opens a database read-write, optionally sets its journal mode, reads it (which rolls back a hot journal)
 * and checkpoints its WAL with TRUNCATE. Closing the last connection then deletes `-wal` and `-shm`.
 */
function settle(file: string, journalMode?: 'WAL'): 'settled' | 'busy' {
  const db = new Database(file, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
  try {
    if (journalMode) db.pragma(`journal_mode = ${journalMode}`);
    db.prepare('select count(*) from sqlite_master').get();
    const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    return result?.busy === 1 ? 'busy' : 'settled';
  } finally {
    db.close();
  }
}

function ref(file: string): DatabaseRef {
  return { engine: 'sqlite', name: file, location: `sqlite:${file}` };
}

/** Whether a replacement goes in as bytes: asked for, or not a SQLite file at all (SQLite could not fold it anyway). */
async function movesAsBytes(file: string, options: SwapOptions): Promise<boolean> {
  return options.asIs === true || !(await hasSqliteHeader(file));
}

async function hasSqliteHeader(file: string): Promise<boolean> {
  const header = await readHeader(file);
  return header !== undefined && header.subarray(0, SQLITE_MAGIC.length).equals(SQLITE_MAGIC);
}

/** Whether a database file is in WAL mode (header bytes 18-19 are 2); false when it is missing or not SQLite. */
async function isWalMode(file: string): Promise<boolean> {
  const header = await readHeader(file);
  return header !== undefined && header[18] === 2 && header[19] === 2;
}

async function readHeader(file: string): Promise<Buffer | undefined> {
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return undefined;
  try {
    const buffer = Buffer.alloc(100);
    const { bytesRead } = await handle.read(buffer, 0, 100, 0);
    return bytesRead === 100 ? buffer : undefined;
  } finally {
    await handle.close();
  }
}

/** Moves a file by link + unlink, which (unlike rename) refuses to replace one already at `to`. */
async function moveWithoutReplacing(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new DrError('RESTORE_FAILED', `cannot move ${from}: ${to} already exists`);
    throw error;
  }
  await unlink(from);
}

/** Flushes a file's data, or a directory's entries, to disk. */
async function fsync(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

async function unlinkIfPresent(file: string): Promise<void> {
  await unlink(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

async function removeSideFiles(file: string): Promise<void> {
  for (const side of SIDE_FILES) await unlinkIfPresent(`${file}${side}`);
}

async function removeWithSideFiles(file: string): Promise<void> {
  await unlinkIfPresent(file);
  await removeSideFiles(file);
}
