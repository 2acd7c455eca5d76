import { Worker } from 'node:worker_threads';
import { DrError } from '../../domain/errors.ts';
import type { DatabaseFacts, DmsDatabase } from '../../ports/dms.ts';

type WorkerAnswer = { ok: true; facts: DatabaseFacts } | { ok: false; code?: string; message: string };

// Codes where the file itself is damaged, as opposed to missing or locked.
const CORRUPTION_CODES = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB']);

/** The DMS's SQLite file, opened read-only in a worker thread that is killed when the probe's deadline passes. */
export class SqliteDmsDatabase implements DmsDatabase {
  constructor(private readonly file: string) {}

  get location(): string {
    return `sqlite:${this.file}`;
  }

  probe(signal: AbortSignal): Promise<DatabaseFacts> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(new URL('./sqlite-probe.worker.mjs', import.meta.url), { workerData: { file: this.file } });
      const onAbort = () => void worker.terminate();
      signal.addEventListener('abort', onAbort, { once: true });
      const finish = () => signal.removeEventListener('abort', onAbort);
      worker.once('message', (answer: WorkerAnswer) => {
        finish();
        if (answer.ok) return resolve(answer.facts);
        if (answer.code && CORRUPTION_CODES.has(answer.code)) {
          return resolve({ engine: 'sqlite', version: 'unknown', integrity: `${answer.code}: ${answer.message}`, counts: { documents: 0, users: 0, tenants: 0 } });
        }
        reject(new DrError('PROBE_FAILED', `cannot open ${this.file}: ${answer.code ? `${answer.code}: ` : ''}${answer.message}`));
      });
      worker.once('error', (error) => {
        finish();
        reject(error);
      });
    });
  }
}
