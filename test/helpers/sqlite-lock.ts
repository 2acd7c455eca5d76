import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** Another process holding SQLite's write lock (BEGIN IMMEDIATE) on `file` for `ms`, or until released. */
export async function holdWriteLock(file: string, ms: number): Promise<{ done: Promise<void>; release(): void }> {
  const script = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1]);
    db.exec('BEGIN IMMEDIATE');
    process.stdout.write('locked\\n');
    const end = () => { db.exec('COMMIT'); db.close(); process.exit(0); };
    setTimeout(end, Number(process.argv[2]));
    process.stdin.on('data', end);
  `;
  const child = spawn(process.execPath, ['-e', script, file, String(ms)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  await once(child.stdout, 'data');
  const done = once(child, 'exit').then(() => undefined);
  return { done, release: () => void child.stdin.write('x') };
}
