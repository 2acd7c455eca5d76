import { Worker } from 'node:worker_threads';
import { DrError } from '../../domain/errors.ts';
import type { DatabaseCopy, DatabaseDumper } from '../../ports/dms.ts';
import { sha256OfFile } from '../../backup/file-hash.ts';

type Answer =
  | { copied: true }
  | { ok: true; version: string; pages: number; integrity: string; counts?: DatabaseCopy['counts']; countsUnavailable?: string }
  | { ok: false; code?: string; message: string };

/** Copies the DMS's SQLite file with the online backup API (consistent while the DMS writes) and runs integrity_check on the copy. */
export class SqliteDumper implements DatabaseDumper {
  readonly extension = 'sqlite';

  constructor(private readonly file: string) {}

  dumpTo(dest: string, signal: AbortSignal): Promise<DatabaseCopy> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(new URL('./sqlite-backup.worker.mjs', import.meta.url), { workerData: { source: this.file, dest }, execArgv: [] });
      const onAbort = () => void worker.terminate().then(() => reject(signal.reason));
      signal.addEventListener('abort', onAbort, { once: true });
      // Hashing runs beside the integrity check (both only read the finished copy), not after it.
      let hashing: Promise<string> | undefined;
      worker.on('message', (answer: Answer) => {
        if ('copied' in answer) {
          hashing = sha256OfFile(dest);
          hashing.catch(() => {});
          return;
        }
        signal.removeEventListener('abort', onAbort);
        if (!answer.ok) return reject(new DrError('BACKUP_FAILED', `SQLite backup of ${this.file} failed: ${answer.code ? `${answer.code}: ` : ''}${answer.message}`));
        const copy = { engine: 'sqlite' as const, tools: { sqlite: answer.version }, integrity: answer.integrity, counts: answer.counts, ...(answer.countsUnavailable ? { countsUnavailable: answer.countsUnavailable } : {}) };
        if (!hashing) return resolve(copy);
        hashing.then((sha256) => resolve({ ...copy, sha256, sha256FromDisk: true }), reject);
      });
      worker.once('error', (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      });
    });
  }
}
