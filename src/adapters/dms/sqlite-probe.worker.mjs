// Runs SQLite probes off the main thread: better-sqlite3 is synchronous, and a quick_check on a large
// or locked file must not hold up Slack acks or the other probes. One long-lived worker serves every
// probe (starting a thread costs more than the probe itself); it is killed and replaced when a probe
// misses its deadline. Plain JS so it loads without a TypeScript loader.
import { parentPort } from 'node:worker_threads';
import Database from 'better-sqlite3';

parentPort.on('message', ({ id, file, mode }) => {
  let db;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 2000');
    if (mode === 'ping') {
      // Reads the schema page: `select 1` alone would not touch the file, and would pass on a damaged header.
      db.prepare('select count(*) from sqlite_master').get();
      parentPort.postMessage({ id, ok: true });
      return;
    }
    const version = db.prepare('select sqlite_version() as v').get().v;
    const problems = db.pragma('quick_check(5)').map((row) => row.quick_check);
    const integrity = problems.length === 1 && problems[0] === 'ok' ? 'ok' : problems.join('; ');
    const count = (table) => db.prepare(`select count(*) as n from ${table}`).get().n;
    const counts = integrity === 'ok'
      ? { documents: count('documents'), users: count('users'), tenants: count('tenants') }
      : { documents: 0, users: 0, tenants: 0 };
    parentPort.postMessage({ id, ok: true, facts: { engine: 'sqlite', version, integrity, counts } });
  } catch (error) {
    const code = error && typeof error.code === 'string' ? error.code : undefined;
    parentPort.postMessage({ id, ok: false, code, message: String(error && error.message ? error.message : error) });
  } finally {
    db?.close();
  }
});
