// Inspects a restored or kept SQLite database off the main thread: a full integrity_check reads every
// page, which takes seconds on a large file, and better-sqlite3 is synchronous. One check per worker.
// Plain JS so it loads without a TypeScript loader.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const ZERO = { documents: 0, users: 0, tenants: 0 };
let db;
let answer;
try {
  db = new Database(workerData.file, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  // integrity_check(N) is the full check; N only caps how many problems it lists.
  const problems = db.pragma('integrity_check(20)').map((row) => row.integrity_check);
  const integrity = problems.length === 1 && problems[0] === 'ok' ? 'ok' : problems.join('; ');
  answer = { ok: true, integrity, counts: ZERO };
  if (integrity === 'ok') {
    try {
      const count = (table) => db.prepare(`select count(*) as n from ${table}`).get().n;
      answer = { ok: true, integrity, counts: { documents: count('documents'), users: count('users'), tenants: count('tenants') } };
    } catch (error) {
      // A sound file that is not a DMS database (tables missing) must not pass as a good restore.
      answer = { ok: true, integrity: `cannot count rows: ${String(error?.message ?? error)}`, counts: ZERO };
    }
  }
} catch (error) {
  answer = { ok: false, code: typeof error?.code === 'string' ? error.code : undefined, message: String(error?.message ?? error) };
} finally {
  // Closed before answering: the caller may swap this very file in next, and an open connection would stop it.
  db?.close();
}
parentPort.postMessage(answer);
