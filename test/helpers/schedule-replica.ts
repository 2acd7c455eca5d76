// A scheduler replica in its own process, for the exactly-once test: it opens the shared state store,
// runs a per-second job for the given time, and records each run it made in `replica_runs`.
import { openStateStore } from '../../src/adapters/state/kysely-store.ts';
import { startSchedules } from '../../src/scheduler/schedules.ts';
import { captureLogs } from './logs.ts';
import pg from 'pg';

const [url, replica, seconds] = process.argv.slice(2);
const store = await openStateStore(url!);
const client = new pg.Client({ connectionString: url });
await client.connect();
await client.query('create table if not exists replica_runs (replica text, second bigint)');
const schedules = startSchedules(
  [{ name: 'tick', expression: '* * * * * *', run: async () => void (await client.query('insert into replica_runs values ($1, $2)', [replica, Math.floor(Date.now() / 1000)])) }],
  { store, owner: replica!, timezone: 'UTC', logger: captureLogs('silent').logger, onFailure: () => {} },
);
await new Promise((resolve) => setTimeout(resolve, Number(seconds) * 1000));
await schedules.stop();
await client.end();
await store.close();
