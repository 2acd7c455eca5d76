// File-system work for document snapshots, off the main thread: listing a folder, storing a file as a
// content-addressed object, hashing a file. Synchronous calls in a worker cost the event loop nothing and
// avoid a thread-pool round trip per call, which for thousands of small files is most of the time.
// Plain JS: no TypeScript loader needed.
import { createHash } from 'node:crypto';
import { closeSync, constants, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, realpathSync, renameSync, rmSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import path from 'node:path';
import { parentPort, threadId } from 'node:worker_threads';

const buffer = Buffer.allocUnsafe(1024 * 1024);
let staged = 0;
const madeDirs = new Set();
const stagingDirs = new Set();

// Each worker stages into a folder of its own: creating files in one shared folder serialises on its lock.
function stagingDirFor(prefix) {
  const dir = `${prefix}-w${threadId}`;
  if (!stagingDirs.has(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    stagingDirs.add(dir);
  }
  return dir;
}

// One folder: its regular files with size and mtime, and its subfolders (symlinks and the rest are skipped).
// With `relative`, file names come back as `relative/name`: joined here, the main thread gets flat strings.
function list({ dir, mayVanish, relative }) {
  const files = [];
  const dirs = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (error) {
    // A subfolder removed since its parent was listed holds nothing to back up; a missing root is an error.
    if (mayVanish && error?.code === 'ENOENT') return { files, dirs };
    throw error;
  }
  // Plain concatenation: path.join per file costs a fifth of the listing.
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  for (const entry of entries) {
    if (entry.isDirectory()) dirs.push(entry.name);
    else if (entry.isFile()) {
      // Deleted between readdir and lstat: not there to back up.
      const stats = lstatSync(prefix + entry.name, { throwIfNoEntry: false });
      if (!stats) continue;
      files.push([relative ? `${relative}/${entry.name}` : entry.name, stats.size, stats.mtimeMs]);
    }
  }
  return { files, dirs };
}

function hashFd(fd, onChunk) {
  const hash = createHash('sha256');
  let size = 0;
  for (let read = readSync(fd, buffer); read > 0; read = readSync(fd, buffer)) {
    const chunk = buffer.subarray(0, read);
    hash.update(chunk);
    onChunk?.(chunk);
    size += read;
  }
  return { sha256: hash.digest('hex'), size };
}

// Opens a regular file without following a symlink, or hanging on a FIFO, swapped in since it was listed.
function openRegular(file) {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw Object.assign(new Error(`${file} is not a regular file`), { code: 'ENOTREG' });
  }
  return fd;
}

// A folder on the way that is a symlink out of the root would carry the read outside it (O_NOFOLLOW guards
// only the last component). Resolved per call: a folder may be swapped for a link at any time.
function refuseSymlinkEscape(file, root) {
  const realRoot = realpathSync.native(root);
  let realDir;
  try {
    realDir = realpathSync.native(path.dirname(file));
  } catch (error) {
    if (error?.code === 'ENOENT') return;
    throw error;
  }
  if (realDir !== realRoot && !realDir.startsWith(`${realRoot}/`)) {
    throw Object.assign(new Error(`path escapes the uploads folder through a symlink: ${path.relative(root, path.dirname(file))}`), { code: 'EESCAPE' });
  }
}

function hash({ file, root }) {
  if (root !== undefined) refuseSymlinkEscape(file, root);
  const fd = openRegular(file);
  try {
    return { ...hashFd(fd), mode: fstatSync(fd).mode };
  } finally {
    closeSync(fd);
  }
}

// A folder this worker made may have been removed since (a clean-up on another host): on ENOENT it is made again.
function retryingOnMissingDir(dir, forget, action) {
  try {
    return action();
  } catch (error) {
    if (error?.code !== 'ENOENT') throw error;
    forget();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return action();
  }
}

// Copies a file into a staged object (mode 0600) hashing it on the way, then renames it under its SHA-256 and
// reads it back; content already stored is not stored twice, but its object is touched so a running sweep keeps it.
function put({ file, objectsDir, stagingDir }) {
  const source = openRegular(file);
  let temp;
  try {
    const dir = stagingDirFor(stagingDir);
    temp = path.join(dir, String((staged += 1)));
    const out = retryingOnMissingDir(dir, () => stagingDirs.delete(dir), () => openSync(temp, 'wx', 0o600));
    let result;
    try {
      result = hashFd(source, (chunk) => {
        for (let written = 0; written < chunk.length; ) written += writeSync(out, chunk, written);
      });
    } finally {
      closeSync(out);
    }
    const target = path.join(objectsDir, result.sha256.slice(0, 2), result.sha256);
    if (existsSync(target)) {
      try {
        // Touched before the staged copy goes: a sweep running now sees it young and keeps it.
        const now = new Date();
        utimesSync(target, now, now);
        unlinkSync(temp);
        return { sha256: result.sha256, sizeBytes: result.size, stored: false };
      } catch (error) {
        // Swept in between: stored again below.
        if (error?.code !== 'ENOENT') throw error;
      }
    }
    const fan = path.dirname(target);
    if (!madeDirs.has(fan)) {
      mkdirSync(fan, { recursive: true });
      madeDirs.add(fan);
    }
    retryingOnMissingDir(fan, () => madeDirs.delete(fan), () => renameSync(temp, target));
    temp = undefined;
    // Read back here, in the same task: a second round trip per object would cost more than the read.
    const readBackSha256 = hash({ file: target }).sha256;
    // Stored wrong: not left under its name, where the next snapshot would take it for good.
    if (readBackSha256 !== result.sha256) rmSync(target, { force: true });
    return { sha256: result.sha256, sizeBytes: result.size, stored: true, readBackSha256 };
  } finally {
    if (temp) rmSync(temp, { force: true });
    closeSync(source);
  }
}

const tasks = { list, hash, put };
parentPort.on('message', ({ id, task, args }) => {
  if (task === 'close') {
    for (const dir of stagingDirs) rmSync(dir, { recursive: true, force: true });
    stagingDirs.clear();
    parentPort.postMessage({ id, result: null });
    return;
  }
  try {
    parentPort.postMessage({ id, result: tasks[task](args) });
  } catch (error) {
    parentPort.postMessage({ id, error: { message: String(error?.message ?? error), code: typeof error?.code === 'string' ? error.code : undefined } });
  }
});
