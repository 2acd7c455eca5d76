import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestBot, TEST_SIGNING_SECRET, type TestBot } from '../helpers/bot.ts';
import { postgresAvailable, scratchDatabase } from '../helpers/pg.ts';
import { defaultSlashFields, postSigned } from '../helpers/slack-requests.ts';

const hasPostgres = await postgresAvailable();
const FORM = 'application/x-www-form-urlencoded';

/** `/dr help` from `user` as a raw form body, fixed once so it can be sent again byte for byte. */
function slashBody(t: TestBot, user: string): string {
  return new URLSearchParams({ ...defaultSlashFields(), text: 'help', user_id: user, response_url: t.slack.responseUrl() }).toString();
}

/** An Events API delivery (App Home opened) with its event_id, as Slack sends it and redelivers it. */
function homeOpened(eventId: string, user: string): string {
  return JSON.stringify({
    token: 'fake-verification-token',
    team_id: 'T0FAKE0001',
    api_app_id: 'A0FAKEAPP1',
    type: 'event_callback',
    event_id: eventId,
    event_time: Math.floor(Date.now() / 1000),
    event: { type: 'app_home_opened', user, channel: 'D0HOME0001', tab: 'home', event_ts: `${Date.now() / 1000}` },
  });
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 500));

describe('replayed and retried Slack requests run once', () => {
  let t: TestBot;
  beforeAll(async () => {
    t = await startTestBot();
  });
  afterAll(async () => t?.close());
  afterEach(() => t.slack.reset());

  const audited = async (user: string) => (await t.bot.deps.store.listAudit()).filter((row) => row.actor === user).length;
  const answered = () => t.slack.calls.filter((c) => c.method === 'response_url').length;

  it('runs a signed slash command sent three times (same signature) once; the copies get an empty 200', async () => {
    const body = slashBody(t, 'U0REPLAY01');
    const timestamp = Math.floor(Date.now() / 1000);
    const first = await postSigned(t.bot.url, TEST_SIGNING_SECRET, body, FORM, { timestamp });
    expect(first.status).toBe(200);
    await expect.poll(() => audited('U0REPLAY01'), { timeout: 10_000 }).toBe(1);
    for (let copy = 0; copy < 2; copy += 1) {
      const replay = await postSigned(t.bot.url, TEST_SIGNING_SECRET, body, FORM, { timestamp });
      expect(replay).toMatchObject({ status: 200, body: '' });
    }
    await settle();
    expect(await audited('U0REPLAY01')).toBe(1);
    expect(answered()).toBe(1);
    expect(t.logs.filter((line) => line.msg === 'replayed Slack request ignored: this signature was already taken in')).toHaveLength(2);
  });

  it('answers a Slack retry (X-Slack-Retry-Num, new signature) of a delivered event with 200 without running it again', async () => {
    const first = await postSigned(t.bot.url, TEST_SIGNING_SECRET, homeOpened('Ev0RETRY001', 'U0RETRY001'), 'application/json');
    expect(first.status).toBe(200);
    await t.slack.waitFor((c) => c.method === 'views.publish' && c.body.user_id === 'U0RETRY001', 10_000);
    // Slack redelivers the same event one second later, signed afresh.
    const retried = await postSigned(t.bot.url, TEST_SIGNING_SECRET, homeOpened('Ev0RETRY001', 'U0RETRY001'), 'application/json', { timestamp: Math.floor(Date.now() / 1000) + 1, retryNum: 1 });
    expect(retried.status).toBe(200);
    await settle();
    expect(t.slack.calls.filter((c) => c.method === 'views.publish')).toHaveLength(1);
    expect(t.logs.some((line) => line.msg === 'Slack retry of a request already taken in: answered, not run again')).toBe(true);
  });

  it('runs a retry whose first delivery never arrived', async () => {
    const retried = await postSigned(t.bot.url, TEST_SIGNING_SECRET, homeOpened('Ev0LOST0001', 'U0LOST0001'), 'application/json', { retryNum: 2, retryReason: 'http_error' });
    expect(retried.status).toBe(200);
    await t.slack.waitFor((c) => c.method === 'views.publish' && c.body.user_id === 'U0LOST0001', 10_000);
  });

  it('answers a retried slash command (same body, new signature) without running it again', async () => {
    const body = slashBody(t, 'U0REPLAY02');
    expect((await postSigned(t.bot.url, TEST_SIGNING_SECRET, body, FORM)).status).toBe(200);
    await expect.poll(() => audited('U0REPLAY02'), { timeout: 10_000 }).toBe(1);
    const retried = await postSigned(t.bot.url, TEST_SIGNING_SECRET, body, FORM, { timestamp: Math.floor(Date.now() / 1000) + 2, retryNum: 1 });
    expect(retried).toMatchObject({ status: 200, body: '' });
    await settle();
    expect(await audited('U0REPLAY02')).toBe(1);
    expect(answered()).toBe(1);
    // The same words typed again (a new request, not a retry) run again.
    expect((await postSigned(t.bot.url, TEST_SIGNING_SECRET, slashBody(t, 'U0REPLAY02'), FORM)).status).toBe(200);
    await expect.poll(() => audited('U0REPLAY02'), { timeout: 10_000 }).toBe(2);
    await expect.poll(answered, { timeout: 10_000 }).toBe(2);
  });

  it('refuses a timestamp an hour ahead with 401 and runs nothing', async () => {
    const body = slashBody(t, 'U0FUTURE01');
    const future = await postSigned(t.bot.url, TEST_SIGNING_SECRET, body, FORM, { timestamp: Math.floor(Date.now() / 1000) + 3_600 });
    expect(future.status).toBe(401);
    await settle();
    expect(await audited('U0FUTURE01')).toBe(0);
  });
});

describe.skipIf(!hasPostgres)('replays across two replicas sharing a PostgreSQL state store', () => {
  let database: Awaited<ReturnType<typeof scratchDatabase>>;
  let a: TestBot;
  let b: TestBot;
  beforeAll(async () => {
    database = await scratchDatabase('dr_replay_test');
    a = await startTestBot({ state: database.url });
    b = await startTestBot({ state: database.url });
  }, 60_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  it('runs a request once when the same signed copy reaches the other replica', async () => {
    const body = new URLSearchParams({ ...defaultSlashFields(), text: 'help', user_id: 'U0REPLICA1', response_url: a.slack.responseUrl() }).toString();
    const timestamp = Math.floor(Date.now() / 1000);
    expect((await postSigned(a.bot.url, TEST_SIGNING_SECRET, body, FORM, { timestamp })).status).toBe(200);
    const onB = await postSigned(b.bot.url, TEST_SIGNING_SECRET, body, FORM, { timestamp });
    expect(onB).toMatchObject({ status: 200, body: '' });
    await a.slack.waitFor((c) => c.method === 'response_url', 10_000);
    await settle();
    // One audit row in the shared store, one answer; the second replica ran nothing.
    expect((await a.bot.deps.store.listAudit()).filter((row) => row.actor === 'U0REPLICA1')).toHaveLength(1);
    expect(a.slack.calls.filter((c) => c.method === 'response_url')).toHaveLength(1);
    expect(b.logs.some((line) => line.msg === 'replayed Slack request ignored: this signature was already taken in')).toBe(true);
  }, 30_000);
});
