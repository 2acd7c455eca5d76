// Swaps two databases back and forth for ever, printing a line after each swap, so that a test can SIGKILL it
// at random moments of a swap. Arguments: sqlite|postgres, the live path or URL, the first replacement's
// name, and a label prefix. The restorers are the production ones: no test hooks.
import { PostgresRestorer } from '../../src/adapters/dms/postgres-restorer.ts';
import { SqliteRestorer } from '../../src/adapters/dms/sqlite-restorer.ts';
import type { DatabaseRef } from '../../src/ports/dms.ts';

const [engine, live, first, prefix] = process.argv.slice(2);
if ((engine !== 'sqlite' && engine !== 'postgres') || !live || !first || !prefix) throw new Error('usage: swap-loop sqlite|postgres LIVE FIRST PREFIX');
const restorer = engine === 'sqlite' ? new SqliteRestorer(live) : new PostgresRestorer(live);
let next: DatabaseRef = { engine, name: first, location: first };
process.stdout.write('ready\n');
for (let i = 0; ; i += 1) {
  next = (await restorer.swapIn(next, `${prefix}${i}`))!;
  process.stdout.write(`swapped ${i}\n`);
}
