// Copies a live SQLite database with the online backup API, then checks the copy, off the main thread.
// The copy is one backup step: a single read transaction sees one consistent state, and a writer on
// another connection cannot force it to restart (which stepwise copying does under steady writes).
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { source, dest } = workerData;
let live;
let copy;
try {
  live = new Database(source, { readonly: true, fileMustExist: true });
  live.pragma('busy_timeout = 10000');
  // Each page is read once: better-sqlite3's default 16 MB cache would only add to the peak memory.
  live.pragma('cache_size = -1000');
  const version = live.prepare('select sqlite_version() as v').get().v;
  parentPort.postMessage({ totalBytes: live.pragma('page_count', { simple: true }) * live.pragma('page_size', { simple: true }) });
  const result = await live.backup(dest, { progress: () => 0x7fffffff });
  live.close();
  live = undefined;
  // The copy inherits WAL mode; a backup should be one self-contained file, so switch it to a rollback journal.
  copy = new Database(dest, { fileMustExist: true });
  copy.pragma('journal_mode = DELETE');
  copy.close();
  // From here the file no longer changes: the main thread hashes it while this thread checks it.
  copy = new Database(dest, { readonly: true, fileMustExist: true });
  parentPort.postMessage({ copied: true });
  const problems = copy.pragma('integrity_check(10)').map((row) => row.integrity_check);
  const integrity = problems.length === 1 && problems[0] === 'ok' ? 'ok' : problems.join('; ');
  const counted = integrity === 'ok' ? countRows(copy) : { countsUnavailable: 'the copy failed its integrity check' };
  parentPort.postMessage({ ok: true, version, pages: result.totalPages, integrity, ...counted });
} catch (error) {
  parentPort.postMessage({ ok: false, code: typeof error?.code === 'string' ? error.code : undefined, message: String(error?.message ?? error) });
} finally {
  live?.close();
  copy?.close();
}

// The rows the runbook counts; a DMS without one of the tables still gets its backup, with the reason.
function countRows(db) {
  const tables = ['documents', 'users', 'tenants'];
  const present = db.prepare("select count(*) as n from sqlite_schema where type = 'table' and name in ('documents', 'users', 'tenants')").get().n;
  if (present !== tables.length) return { countsUnavailable: 'the DMS database lacks one of the tables documents, users and tenants' };
  const count = (table) => db.prepare(`select count(*) as n from ${table}`).get().n;
  return { counts: { documents: count('documents'), users: count('users'), tenants: count('tenants') } };
}
