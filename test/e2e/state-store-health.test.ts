// The bot's own state store broken under a running bot process, as a flaky disk or a careless operator
// would: /healthz must turn 503 and the critical channel must hear of it (straight from the Web API, not
// through the outbox in the broken store) within 60 s; a store that comes back turns them both around.
import { mkdtemp, open, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStateStore } from '../../src/adapters/state/kysely-store.ts';
import { startSlackFake, type SlackFake } from '../fakes/slack-api.ts';
import { startBotProcess, type BotProcess } from '../helpers/bot-process.ts';
import { TEST_SIGNING_SECRET } from '../helpers/bot.ts';
import { PG_ADMIN_URL, postgresAvailable, scratchDatabase } from '../helpers/pg.ts';
import { sendSlashCommand } from '../helpers/slack-requests.ts';
import { holdWriteLock } from '../helpers/sqlite-lock.ts';

const TOKEN = 'state-health-token';
// The promise is 60 s; polls stop there.
const WITHIN = { timeout: 60_000, interval: 500 };

describe('a broken state store under a running bot', () => {
  let slack: SlackFake;
  let dir: string;
  let bot: BotProcess | undefined;
  const stateFile = () => path.join(dir, 'state', 'dr-state.db');
  const health = async () => {
    const response = await fetch(`${bot!.url}/healthz`);
    return { status: response.status, body: (await response.json()) as { state: { healthy: boolean; error?: string } } };
  };
  const criticalPosts = (pattern: RegExp) =>
    slack.calls.filter((c) => c.method === 'chat.postMessage' && !c.failed && c.body.channel === '#dr-critical' && pattern.test(String(c.body.text)));
  const start = async (state = stateFile()) => {
    bot = await startBotProcess({ SLACK_API_URL: slack.apiUrl, DR_STATE: state, DR_ALERT_TOKEN: TOKEN }, dir);
    // Start-up (interrupted runs, schedules) done: what breaks from now on breaks under a running bot.
    await expect.poll(() => bot!.logs.some((line) => line.msg === 'dr-bot started'), WITHIN).toBe(true);
    await expect.poll(async () => (await health()).status, WITHIN).toBe(200);
  };

  beforeAll(async () => {
    slack = await startSlackFake();
  });
  afterAll(async () => {
    await slack?.close();
  });
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
    await rm(dir, { recursive: true, force: true });
  });
  const freshDir = async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dr-state-health-'));
  };

  it('creates its state folder 0700 and the file 0600', async () => {
    await freshDir();
    await start();
    expect((await stat(path.dirname(stateFile()))).mode & 0o777).toBe(0o700);
    expect((await stat(stateFile())).mode & 0o777).toBe(0o600);
    expect((await stat(`${stateFile()}-wal`)).mode & 0o777).toBe(0o600);
  }, 120_000);

  it('deleted: /healthz 503, POST /alerts 503, and the critical channel is told', async () => {
    await freshDir();
    await start();
    await unlink(stateFile());
    const gone = Date.now();
    await expect.poll(async () => (await health()).status, WITHIN).toBe(503);
    expect((await health()).body.state.error).toMatch(/was deleted/);
    await expect.poll(() => criticalPosts(/state store is broken: .*was deleted/).length, WITHIN).toBe(1);
    expect(Date.now() - gone).toBeLessThan(60_000);
    const alert = await fetch(`${bot!.url}/alerts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ alert: 'disk_gone', severity: 'critical', status: 'firing', summary: 'x' }),
    });
    expect(alert.status).toBe(503);
    expect(await alert.text()).toMatch(/nothing was recorded/);
  }, 120_000);

  it('replaced by another file: 503 and told; put back: 200 and a recovery note', async () => {
    await freshDir();
    await start();
    slack.calls.length = 0;
    await rename(stateFile(), `${stateFile()}.moved`);
    await writeFile(stateFile(), '');
    await expect.poll(async () => (await health()).status, WITHIN).toBe(503);
    expect((await health()).body.state.error).toMatch(/was replaced/);
    await expect.poll(() => criticalPosts(/state store is broken: .*was replaced/).length, WITHIN).toBe(1);
    // The very file the bot holds, back at its path.
    await rename(`${stateFile()}.moved`, stateFile());
    await expect.poll(async () => (await health()).status, WITHIN).toBe(200);
    await expect.poll(() => criticalPosts(/state store is healthy again/).length, WITHIN).toBe(1);
  }, 180_000);

  it('corrupted in place: quick_check fails, 503 and told', async () => {
    await freshDir();
    await start();
    slack.calls.length = 0;
    // Pages moved from the log into the file (as SQLite's own checkpoints do), then garbage over every page
    // after the first: what a bad disk or a stray `dd` leaves.
    const other = new Database(stateFile());
    expect(other.pragma('wal_checkpoint(TRUNCATE)', { simple: true })).toBe(0);
    other.close();
    const { size } = await stat(stateFile());
    expect(size).toBeGreaterThan(8192);
    const handle = await open(stateFile(), 'r+');
    await handle.write(Buffer.alloc(size - 4096, 0xa5), 0, size - 4096, 4096);
    await handle.close();
    await expect.poll(async () => (await health()).status, WITHIN).toBe(503);
    expect((await health()).body.state.error).toMatch(/damaged|malformed|not a database/);
    await expect.poll(() => criticalPosts(/state store is broken/).length, WITHIN).toBe(1);
  }, 120_000);

  it('locked by another process: writes wait for a short lock; a long one is 503 and told, and its end is 200 again', async () => {
    await freshDir();
    await start();
    slack.calls.length = 0;
    // A 2 s lock: the command's audit row waits for it (busy_timeout) instead of failing at once.
    let holder = await holdWriteLock(stateFile(), 2_000);
    const answer = await sendSlashCommand(bot!.url, TEST_SIGNING_SECRET, { text: 'help', user_id: 'ULOCKED01', response_url: slack.responseUrl() });
    expect(answer.status).toBe(200);
    await holder.done;
    const store = await openStateStore(stateFile());
    try {
      await expect.poll(async () => (await store.listAudit()).filter((row) => row.actor === 'ULOCKED01' && row.command === 'help').length, WITHIN).toBe(1);
    } finally {
      await store.close();
    }
    expect(bot!.logs.filter((line) => line.msg === 'audit row could not be written; it will be retried')).toEqual([]);
    // A lock held far longer than busy_timeout: the store cannot be written.
    holder = await holdWriteLock(stateFile(), 60_000);
    try {
      await expect.poll(async () => (await health()).status, WITHIN).toBe(503);
      expect((await health()).body.state.error).toMatch(/locked|busy/i);
      await expect.poll(() => criticalPosts(/state store is broken/).length, WITHIN).toBe(1);
    } finally {
      holder.release();
      await holder.done;
    }
    await expect.poll(async () => (await health()).status, WITHIN).toBe(200);
    await expect.poll(() => criticalPosts(/state store is healthy again/).length, WITHIN).toBe(1);
  }, 150_000);

  describe('on PostgreSQL', async () => {
    const available = await postgresAvailable();
    it.skipIf(!available)('connection loss: 503 and told; connections allowed again: 200 and a recovery note; database dropped: 503', async () => {
      await freshDir();
      const database = await scratchDatabase('dr_state_health');
      const name = new URL(database.url).pathname.slice(1);
      const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
      await admin.connect();
      try {
        await start(database.url);
        slack.calls.length = 0;
        // The server refuses the bot's reconnects after its backends are terminated.
        await admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS false`);
        await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name]);
        await expect.poll(async () => (await health()).status, WITHIN).toBe(503);
        await expect.poll(() => criticalPosts(/state store is broken/).length, WITHIN).toBe(1);
        await admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS true`);
        await expect.poll(async () => (await health()).status, WITHIN).toBe(200);
        await expect.poll(() => criticalPosts(/state store is healthy again/).length, WITHIN).toBe(1);
        await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
        await expect.poll(async () => (await health()).status, WITHIN).toBe(503);
        await expect.poll(() => criticalPosts(/state store is broken/).length, WITHIN).toBe(2);
      } finally {
        await bot?.stop();
        bot = undefined;
        await admin.end();
        await database.drop();
      }
    }, 150_000);
  });
});
