// Hashes files for `verify checksums`, one worker per core. Synchronous reads in a worker cost no event
// loop anything and avoid a thread-pool round trip per chunk. Plain JS: no TypeScript loader needed.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

const buffer = Buffer.allocUnsafe(1024 * 1024);
parentPort.on('message', ({ id, file }) => {
  let fd;
  try {
    fd = openSync(file, 'r');
    const hash = createHash('sha256');
    let size = 0;
    for (let read = readSync(fd, buffer); read > 0; read = readSync(fd, buffer)) {
      hash.update(buffer.subarray(0, read));
      size += read;
    }
    parentPort.postMessage({ id, sha256: hash.digest('hex'), size, mode: fstatSync(fd).mode });
  } catch (error) {
    parentPort.postMessage({ id, error: String(error?.code ?? error?.message ?? error) });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
});
