import { Worker } from 'node:worker_threads';
import { DrError } from '../../domain/errors.ts';
import { stat } from 'node:fs/promises';
import type { DatabaseCopy, DatabaseDumper, DumpProgress } from '../../ports/dms.ts';
import { sha256OfFile } from '../../backup/file-hash.ts';

type Answer =
  | { totalBytes: number }
  | { copied: true }
  | { ok: true; version: string; pages: number; integrity: string; counts?: DatabaseCopy['counts']; countsUnavailable?: string }
  | { ok: false; code?: string; message: string };

const PROGRESS_POLL_MS = 500;

/** Copies the DMS's SQLite file with the online backup API (consistent while the DMS writes) and runs integrity_check on the copy. */
export class SqliteDumper implements DatabaseDumper {
  readonly extension = 'sqlite';

  constructor(
    private readonly file: string,
    /** How often the copy's size on disk is reported while it is written. */
    private readonly progressEveryMs = PROGRESS_POLL_MS,
  ) {}

  dumpTo(dest: string, signal: AbortSignal, progress: (update: DumpProgress) => void = () => {}, readCopy: (file: string) => Promise<string> = sha256OfFile): Promise<DatabaseCopy> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(new URL('./sqlite-backup.worker.mjs', import.meta.url), { workerData: { source: this.file, dest }, execArgv: [] });
      // The copy is one backup step, so its progress is the copy's size on disk, looked at now and then.
      let watching: NodeJS.Timeout | undefined;
      const stopWatching = () => {
        clearInterval(watching);
        watching = undefined;
      };
      const onAbort = () => {
        stopWatching();
        void worker.terminate().then(() => reject(signal.reason));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      // Hashing runs beside the integrity check (both only read the finished copy), not after it.
      let hashing: Promise<string> | undefined;
      worker.on('message', (answer: Answer) => {
        if ('totalBytes' in answer) {
          let written = 0;
          const look = () =>
            stat(dest).then(
              (s) => {
                // Looks may finish out of order; the count only ever goes up.
                if (watching === undefined || s.size <= written) return;
                written = Math.min(s.size, answer.totalBytes);
                progress({ bytesDone: written, bytesTotal: answer.totalBytes });
              },
              () => {},
            );
          watching = setInterval(() => void look(), this.progressEveryMs);
          watching.unref();
          return;
        }
        if ('copied' in answer) {
          stopWatching();
          progress({ bytesDone: 0, phase: 'integrity_check of the copy' });
          hashing = readCopy(dest);
          hashing.catch(() => {});
          return;
        }
        stopWatching();
        signal.removeEventListener('abort', onAbort);
        if (!answer.ok) return reject(new DrError('BACKUP_FAILED', `SQLite backup of ${this.file} failed: ${answer.code ? `${answer.code}: ` : ''}${answer.message}`));
        const copy = { engine: 'sqlite' as const, tools: { sqlite: answer.version }, integrity: answer.integrity, counts: answer.counts, ...(answer.countsUnavailable ? { countsUnavailable: answer.countsUnavailable } : {}) };
        if (!hashing) return resolve(copy);
        hashing.then((sha256) => resolve({ ...copy, sha256, sha256FromDisk: true }), reject);
      });
      worker.once('error', (error) => {
        stopWatching();
        signal.removeEventListener('abort', onAbort);
        reject(error);
      });
    });
  }
}
