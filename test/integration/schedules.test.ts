import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { openStateStore } from '../../src/adapters/state/kysely-store.ts';
import type { DispatchDeps } from '../../src/commands/dispatch.ts';
import { composeDeps } from '../../src/compose.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { StateStore } from '../../src/ports/state-store.ts';
import { startBackupSchedules } from '../../src/scheduler/backup-schedules.ts';
import { startSchedules } from '../../src/scheduler/schedules.ts';
import { captureLogs } from '../helpers/logs.ts';
import { startBotProcess, type BotProcess } from '../helpers/bot-process.ts';
import { postgresAvailable, scratchDatabase } from '../helpers/pg.ts';
import { sandboxEnv, tempSandbox } from '../helpers/sandbox.ts';

const hasPostgres = await postgresAvailable();

describe.skipIf(!hasPostgres)('two replicas sharing a PostgreSQL state store', () => {
  it('run each scheduled slot exactly once', async () => {
    const database = await scratchDatabase('dr_state_slots');
    const stores: StateStore[] = [await openStateStore(database.url), await openStateStore(database.url)];
    const runs: Array<{ replica: number; second: number }> = [];
    const { logger } = captureLogs('silent');
    const replicas = stores.map((store, replica) =>
      startSchedules(
        [{ name: 'tick', expression: '* * * * * *', run: async () => void runs.push({ replica, second: Math.floor(Date.now() / 1000) }) }],
        { store, owner: `replica-${replica}`, timezone: 'UTC', logger, onFailure: () => {} },
      ),
    );
    try {
      await new Promise((resolve) => setTimeout(resolve, 4_500));
    } finally {
      for (const schedules of replicas) await schedules.stop();
    }
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const slots = (await client.query<{ slot: string; owner: string }>("select slot, owner from schedule_slots where slot like 'tick:%'")).rows;
    await client.end();
    for (const store of stores) await store.close();
    await database.drop();

    expect(runs.length).toBeGreaterThanOrEqual(3);
    // One run per slot, and one claimed row per run: no slot ran on both replicas.
    expect(new Set(runs.map((r) => r.second)).size).toBe(runs.length);
    expect(slots).toHaveLength(runs.length);
    expect(new Set(slots.map((s) => s.slot)).size).toBe(slots.length);
  });
});

describe.skipIf(!hasPostgres)('two bot processes sharing a PostgreSQL state store', () => {
  it('run each scheduled slot once, whichever process claims it', async () => {
    const database = await scratchDatabase('dr_state_procs');
    // The schema first, so the two processes do not race to create it.
    await (await openStateStore(database.url)).close();
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    await client.query('create table replica_runs (replica text, second bigint)');
    const helper = path.resolve(import.meta.dirname, '../helpers/schedule-replica.ts');
    const { spawn } = await import('node:child_process');
    const exits = ['A', 'B'].map(
      (replica) =>
        new Promise<number | null>((resolve) => {
          const child = spawn(process.execPath, ['--import', 'tsx', helper, database.url, replica, '5'], { stdio: ['ignore', 'inherit', 'inherit'] });
          child.once('exit', resolve);
        }),
    );
    expect(await Promise.all(exits)).toEqual([0, 0]);
    const runs = (await client.query<{ replica: string; second: string }>('select replica, second from replica_runs')).rows;
    const slots = (await client.query<{ count: string }>("select count(*) from schedule_slots where slot like 'tick:%'")).rows[0]!.count;
    await client.end();
    await database.drop();
    expect(runs.length).toBeGreaterThanOrEqual(3);
    expect(new Set(runs.map((r) => r.second)).size).toBe(runs.length);
    expect(Number(slots)).toBe(runs.length);
  });
});

describe('two instances sharing a SQLite state store', () => {
  it('run the schedules on the lease holder only; the standby takes over as soon as the holder stops', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(path.join(tmpdir(), 'dr-lease-'));
    const file = path.join(dir, 'dr-state.db');
    // The schema first, so the two instances do not race to create it.
    await (await openStateStore(file)).close();
    const stores: StateStore[] = [await openStateStore(file), await openStateStore(file)];
    const runs: Array<{ instance: string; slot: string }> = [];
    const logs = captureLogs('info');
    const start = (store: StateStore, instance: string) =>
      startSchedules([{ name: 'tick', expression: '* * * * * *', run: async () => {} }], {
        store,
        owner: instance,
        timezone: 'UTC',
        logger: logs.logger.child({ instance }),
        onFailure: () => {},
        onSuccess: (_job, _result, slot) => void runs.push({ instance, slot }),
        lease: { name: 'scheduler', holder: instance, ttlMs: 60_000, renewMs: 60_000 },
      });
    const a = start(stores[0]!, 'A');
    await expect.poll(() => runs.length, { timeout: 5_000 }).toBeGreaterThan(0);
    const b = start(stores[1]!, 'B');
    try {
      await expect.poll(() => logs.lines.some((l) => l.instance === 'B' && l.msg === 'another instance holds the scheduler lease: standing by' && l.holder === 'A'), { timeout: 10_000 }).toBe(true);
      const withB = runs.length;
      await expect.poll(() => runs.length - withB, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
      expect(new Set(runs.map((r) => r.instance))).toEqual(new Set(['A']));

      // A stops: it gives the lease up, and B's next slot takes it (long before the 60 s expiry).
      await a.stop();
      const handedOver = runs.length;
      await expect.poll(() => runs.slice(handedOver).filter((r) => r.instance === 'B').length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
      expect(runs.slice(handedOver).every((r) => r.instance === 'B')).toBe(true);

      // Stopped at once after starting: the renewal still in flight must not write the lease back.
      await b.stop();
      const brief = start(stores[0]!, 'D');
      await brief.stop();
      expect(await stores[0]!.leaseHolder('scheduler', new Date().toISOString())).toBeUndefined();
    } finally {
      await a.stop();
      await b.stop();
      for (const store of stores) await store.close();
      await rm(dir, { recursive: true, force: true });
    }
    // Never two runs of one slot.
    expect(new Set(runs.map((r) => r.slot)).size).toBe(runs.length);
  });
});

describe('two dr-bot processes sharing a SQLite state store', () => {
  it('back up on the lease holder only; when it is killed with SIGKILL the other takes over at its next slot', async () => {
    const yearly = '0 0 1 1 *';
    const sandbox = await tempSandbox({ config: { backups: { schedule: { db: yearly, storage: yearly, config: '* * * * * *', prune: yearly, verify: yearly, drill: yearly } } } });
    const env = sandboxEnv(sandbox);
    const holds = (bot: BotProcess) => bot.logs.some((l) => l.msg === 'this instance holds the scheduler lease and runs the schedules');
    // Config backups a bot has finished, from its own log.
    const configBackupsBy = (bot: BotProcess) => bot.logs.filter((l) => l.msg === 'scheduled job finished' && l.job === 'backup-config').length;
    const a = await startBotProcess(env, sandbox.dir);
    let b: BotProcess | undefined;
    let killedAt = 0;
    try {
      await expect.poll(() => holds(a), { timeout: 10_000 }).toBe(true);
      b = await startBotProcess(env, sandbox.dir);
      await expect.poll(() => b!.logs.some((l) => l.msg === 'another instance holds the scheduler lease: standing by'), { timeout: 10_000 }).toBe(true);
      await expect.poll(() => configBackupsBy(a), { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
      await a.kill();
      killedAt = Date.now();
      // Its lease has a minute to run, but the dead holder is on this host: known dead at b's next slot.
      await expect.poll(() => holds(b!), { timeout: 15_000 }).toBe(true);
      await expect.poll(() => configBackupsBy(b!), { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    } finally {
      await a.kill();
      await b?.stop();
    }
    const store = await openStateStore(env.DR_STATE);
    try {
      const backups = (await store.listAudit()).filter((e) => e.command === 'backup-config' && e.outcome === 'ok');
      const byA = backups.filter((e) => e.actor.endsWith(`:${a.child.pid}`));
      const byB = backups.filter((e) => e.actor.endsWith(`:${b!.child.pid}`));
      expect(byA.length).toBeGreaterThanOrEqual(2);
      expect(byB.length).toBeGreaterThanOrEqual(2);
      expect(byA.length + byB.length).toBe(backups.length);
      // a alone until it died, b alone after; b's first within two slots of the kill.
      expect(Math.max(...byA.map((e) => e.id))).toBeLessThan(Math.min(...byB.map((e) => e.id)));
      // Far sooner than the lease's 90 s.
      expect(Date.parse(byB[0]!.at) - killedAt).toBeLessThan(10_000);
      // One claimed slot per backup: no slot backed up twice.
      const state = new Database(env.DR_STATE, { readonly: true });
      const slots = state.prepare("select count(*) from schedule_slots where slot like 'backup-config:%'").pluck().get();
      state.close();
      expect(await store.listCatalog({ kind: 'config' })).toHaveLength(Number(slots));
    } finally {
      await store.close();
      await sandbox.destroy();
    }
  });
});

describe('backup schedules at start-up', () => {
  let sandbox: Sandbox;
  let deps: DispatchDeps;
  const logs = captureLogs('info');
  beforeAll(async () => {
    // Yearly slots: no real slot may fire while the test watches (an hourly one did, once, at the top of the hour).
    const yearly = '0 0 1 1 *';
    sandbox = await tempSandbox({ config: { backups: { schedule: { db: yearly, storage: yearly, config: yearly, prune: yearly } } } });
    deps = await composeDeps(loadConfig(sandboxEnv(sandbox)), logs.logger);
  });
  afterAll(async () => {
    await deps?.store.close();
    await sandbox?.destroy();
  });

  it('catches up at once when there is no recent database backup, and only once', async () => {
    expect(await deps.store.listCatalog({ kind: 'db' })).toEqual([]);
    const first = await startBackupSchedules(deps);
    await expect.poll(async () => (await deps.store.listCatalog({ kind: 'db' })).length, { timeout: 15_000 }).toBe(1);
    await first.stop();
    expect(logs.lines.some((l) => String(l.msg).startsWith('newest database backup is older than one schedule period'))).toBe(true);
    const audit = await deps.store.listAudit();
    expect(audit.at(-1)).toMatchObject({ source: 'scheduler', command: 'backup-db', outcome: 'ok' });

    // A fresh backup exists now: a restart takes none.
    const second = await startBackupSchedules(deps);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await second.stop();
    expect(await deps.store.listCatalog({ kind: 'db' })).toHaveLength(1);
  });

  it('on a SQLite store, leaves the catch-up to the lease holder: a standby catches up when it takes the lease over', async () => {
    const standbyDeps = await composeDeps(loadConfig({ DR_CONFIG: sandbox.configPath, DR_STATE: path.join(sandbox.dir, 'dr-state-standby.db') }), logs.logger);
    // Another instance holds the lease; whether it lives is unknown until the test says it died.
    let otherDead = false;
    await standbyDeps.store.acquireLease('scheduler', 'other-host.1.aaaaaa', { now: new Date().toISOString(), until: new Date(Date.now() + 3_600_000).toISOString() });
    const schedules = await startBackupSchedules(standbyDeps, undefined, { holder: 'this-host.2.bbbbbb', ownerAlive: (owner) => (owner.startsWith('other-host.') && otherDead ? false : undefined), ttlMs: 60_000, renewMs: 200 });
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(await standbyDeps.store.listCatalog({ kind: 'db' })).toEqual([]);
      otherDead = true;
      await expect.poll(async () => (await standbyDeps.store.listCatalog({ kind: 'db' })).length, { timeout: 15_000 }).toBe(1);
      expect(await standbyDeps.store.leaseHolder('scheduler', new Date().toISOString())).toBe('this-host.2.bbbbbb');
    } finally {
      await schedules.stop();
      await standbyDeps.store.close();
    }
  });

  it('records a failed job as backup_job_failure', async () => {
    const { readFile, writeFile } = await import('node:fs/promises');
    const brokenConfig = path.join(sandbox.dir, 'dr-broken.yml');
    await writeFile(brokenConfig, (await readFile(sandbox.configPath, 'utf8')).replace(/url: sqlite:.*/, 'url: sqlite:/nonexistent/alphha.db'));
    const broken = await composeDeps(loadConfig({ DR_CONFIG: brokenConfig, DR_STATE: path.join(sandbox.dir, 'dr-state-2.db') }), logs.logger);
    const schedules = await startBackupSchedules(broken);
    await expect.poll(async () => (await broken.store.listAudit()).at(-1)?.outcome, { timeout: 10_000 }).toBe('backup_job_failure');
    expect((await broken.store.listAudit()).at(-1)?.detail).toMatchObject({ error: expect.stringContaining('SQLite backup of /nonexistent/alphha.db failed'), catchUp: true });
    await schedules.stop();
    await broken.store.close();
  });
});

describe.skipIf(!hasPostgres)('two dr-bot processes sharing a PostgreSQL state store', () => {
  it('take each scheduled backup once per slot, and one catch-up between them', async () => {
    const database = await scratchDatabase('dr_state_bots');
    // The schema first, so the two processes do not race to create it.
    await (await openStateStore(database.url)).close();
    const yearly = '0 0 1 1 *';
    // A config backup every second; the database only by the start-up catch-up (there is none yet; a yearly
    // slot, so no regular one fires while the test watches).
    const sandbox = await tempSandbox({ config: { backups: { schedule: { db: yearly, storage: yearly, config: '* * * * * *', prune: yearly, verify: yearly, drill: yearly } } } });
    const env = { DR_CONFIG: sandbox.configPath, DR_STATE: database.url };
    const bots = await Promise.all(['a', 'b'].map((name) => startBotProcess(env, sandbox.dir).then((bot) => ({ name, bot }))));
    try {
      await new Promise((resolve) => setTimeout(resolve, 5_000));
    } finally {
      for (const { bot } of bots) await bot.stop();
    }
    const store = await openStateStore(database.url);
    try {
      const configs = await store.listCatalog({ kind: 'config' });
      const slots = (await store.listAudit()).filter((e) => e.command === 'backup-config' && e.outcome === 'ok');
      const seconds = configs.map((m) => m.started_at.slice(0, 19));
      expect(configs.length).toBeGreaterThanOrEqual(3);
      // One backup per second-slot, whichever process ran it, and one audit row each.
      expect(new Set(seconds).size).toBe(configs.length);
      expect(slots).toHaveLength(configs.length);
      expect(await store.listCatalog({ kind: 'db' })).toHaveLength(1);
    } finally {
      await store.close();
      await sandbox.destroy();
      await database.drop();
    }
  });
});
