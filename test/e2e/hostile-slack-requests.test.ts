import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlackFake, type SlackFake } from '../fakes/slack-api.ts';
import { TEST_SIGNING_SECRET } from '../helpers/bot.ts';
import { startBotProcess, type BotProcess } from '../helpers/bot-process.ts';
import { postSigned, sendSlashCommand, slackSignature } from '../helpers/slack-requests.ts';

const FORM = 'application/x-www-form-urlencoded';
const MB = 1024 * 1024;

/** Resident memory of the bot process, from its own /metrics. */
async function rss(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^process_resident_memory_bytes (\d+)/m.exec(text)![1]);
}

/**
 * POSTs `size` bytes to /slack/events in 64 KB chunks, as fast as the socket takes them, with `headers`. Resolves
 * with the status, 0 when the connection was dropped before an answer.
 */
function pushBody(url: string, size: number, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    let sent = 0;
    let done = false;
    const finish = (status: number) => {
      if (done) return;
      done = true;
      resolve(status);
      req.destroy();
    };
    const req = request(`${url}/slack/events`, { method: 'POST', agent: false, headers: { 'content-length': String(size), ...headers } }, (res) => {
      res.resume();
      finish(res.statusCode ?? 0);
    });
    req.on('error', () => finish(0));
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const pump = () => {
      while (!done && sent < size) {
        const part = chunk.subarray(0, Math.min(chunk.length, size - sent));
        sent += part.length;
        if (!req.write(part)) return void req.once('drain', pump);
      }
      if (!done) req.end();
    };
    pump();
  });
}

/**
 * Announces `size` bytes, sends only the first 16 KB and waits for the answer: a bot that reads bodies before
 * refusing them never answers (undefined after 5 s).
 */
function answerBeforeBody(url: string, size: number, headers: Record<string, string>): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request(`${url}/slack/events`, { method: 'POST', agent: false, headers: { 'content-length': String(size), ...headers } }, (res) => {
      res.resume();
      clearTimeout(timer);
      resolve(res.statusCode);
      req.destroy();
    });
    const timer = setTimeout(() => {
      resolve(undefined);
      req.destroy();
    }, 5_000);
    req.on('error', () => {});
    req.write(Buffer.alloc(16 * 1024, 0x61));
  });
}

// The bot as it runs in production (its own process, with its process-level error policy): a crash here is a
// real crash, not a test failure vitest would swallow.
describe('hostile requests to POST /slack/events, against the bot process', () => {
  let dir: string;
  let slack: SlackFake;
  let bot: BotProcess;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dr-hostile-'));
    slack = await startSlackFake();
    bot = await startBotProcess({ SLACK_API_URL: slack.apiUrl, DR_STATE: path.join(dir, 'state.db') }, dir);
  }, 60_000);
  afterAll(async () => {
    await bot?.stop();
    await slack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const stillServing = async () => {
    expect(bot.child.exitCode).toBeNull();
    expect((await fetch(`${bot.url}/healthz`)).status).toBe(200);
    // And still runs commands: /dr help answers in the response_url.
    slack.reset();
    expect((await sendSlashCommand(bot.url, TEST_SIGNING_SECRET, { text: 'help', response_url: slack.responseUrl() })).status).toBe(200);
    await slack.waitFor((c) => c.method === 'response_url', 10_000);
  };

  it('answers 400 to validly signed bodies that are not JSON objects (payload=null, JSON null, arrays, scalars), and keeps serving', async () => {
    const bodies: Array<[string, string]> = [
      ['payload=null', FORM],
      [new URLSearchParams({ payload: '[]' }).toString(), FORM],
      [new URLSearchParams({ payload: '"block_actions"' }).toString(), FORM],
      [new URLSearchParams({ payload: '42' }).toString(), FORM],
      [new URLSearchParams({ payload: '{"type":' }).toString(), FORM],
      ['payload=null&payload=null', FORM],
      ['null', 'application/json'],
      ['[]', 'application/json'],
      ['[{"type":"event_callback"}]', 'application/json'],
      ['"url_verification"', 'application/json'],
      ['true', 'application/json'],
      ['{"type":"event_callback"', 'application/json'],
      ['null', 'text/plain'],
    ];
    for (const [body, type] of bodies) {
      const answer = await postSigned(bot.url, TEST_SIGNING_SECRET, body, type);
      expect({ body, status: answer.status }).toEqual({ body, status: 400 });
      expect(JSON.parse(answer.body).error).toMatch(/expected a JSON object|not JSON|more than once/);
    }
    await stillServing();
    // Nothing reached the process-level policy: every one was refused before Bolt.
    expect(bot.logs.filter((line) => /unhandled|uncaught/.test(String(line.msg)))).toEqual([]);
    expect(bot.logs.filter((line) => line.msg === 'signed Slack request refused: malformed body')).toHaveLength(bodies.length);
  }, 60_000);

  it('refuses timestamps more than 60 s ahead (401) and takes one 30 s ahead', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const ahead of [3_600, 90]) {
      expect((await sendSlashCommand(bot.url, TEST_SIGNING_SECRET, { text: 'help' }, { timestamp: now + ahead })).status).toBe(401);
    }
    expect((await sendSlashCommand(bot.url, TEST_SIGNING_SECRET, { text: 'help' }, { timestamp: now + 30 })).status).toBe(200);
    // A timestamp that is not a number at all is refused the same way.
    expect((await sendSlashCommand(bot.url, TEST_SIGNING_SECRET, { text: 'help' }, { timestamp: 'soon' as unknown as number })).status).toBe(401);
  });

  it('answers unsigned bodies, a signed-looking one over 256 KB and a stale one without waiting for their bodies', async () => {
    // Over the limit: refused by its announced size. Within it but unsigned: refused by its headers.
    expect(await answerBeforeBody(bot.url, MB, { 'content-type': FORM })).toBe(413);
    expect(await answerBeforeBody(bot.url, 250 * 1024, { 'content-type': FORM })).toBe(401);
    expect(await answerBeforeBody(bot.url, 250 * 1024, { 'content-type': 'application/json' })).toBe(401);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signedLooking = { 'content-type': FORM, 'x-slack-request-timestamp': timestamp, 'x-slack-signature': slackSignature(TEST_SIGNING_SECRET, timestamp, 'x') };
    expect(await answerBeforeBody(bot.url, 257 * 1024, signedLooking)).toBe(413);
    const stale = String(Math.floor(Date.now() / 1000) - 3_600);
    expect(await answerBeforeBody(bot.url, 200 * 1024, { ...signedLooking, 'x-slack-request-timestamp': stale })).toBe(401);
    // Within the limit and fresh, the body is read and its signature checked: this one's is wrong.
    expect(await pushBody(bot.url, 200 * 1024, signedLooking)).toBe(401);
    // The bot's log lines arrive over its stderr pipe: wait for them rather than race them.
    await expect.poll(() => bot.logs.some((line) => line.msg === 'Slack request refused: timestamp outside the signature window'), { timeout: 5_000 }).toBe(true);
    await expect.poll(() => bot.logs.some((line) => line.msg === 'Slack request refused: bad signature'), { timeout: 5_000 }).toBe(true);
  });

  it("answers Slack's unsigned ssl_check, and runs nothing smuggled into one", async () => {
    const check = await fetch(`${bot.url}/slack/events`, { method: 'POST', headers: { 'content-type': FORM }, body: 'ssl_check=1&token=fake-verification-token' });
    expect(check.status).toBe(200);
    slack.reset();
    const smuggled = new URLSearchParams({ ssl_check: '1', command: '/dr', text: 'help', user_id: 'U0SMUGGLER', response_url: slack.responseUrl() }).toString();
    expect((await fetch(`${bot.url}/slack/events`, { method: 'POST', headers: { 'content-type': FORM }, body: smuggled })).status).toBe(200);
    // Unsigned and not an ssl_check: refused.
    expect((await fetch(`${bot.url}/slack/events`, { method: 'POST', headers: { 'content-type': FORM }, body: 'command=%2Fdr&text=help' })).status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(slack.calls).toEqual([]);
  });

  it('keeps its memory at baseline while 300 sockets push unsigned 1 MB bodies at once, then 250 KB ones', async () => {
    const before = await rss(bot.url);
    let peak = before;
    let flooding = true;
    const watch = (async () => {
      while (flooding) {
        peak = Math.max(peak, await rss(bot.url).catch(() => peak));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const large = await Promise.all(Array.from({ length: 300 }, () => pushBody(bot.url, MB, { 'content-type': FORM })));
    const small = await Promise.all(Array.from({ length: 300 }, () => pushBody(bot.url, 250 * 1024, { 'content-type': FORM })));
    flooding = false;
    await watch;
    // Every socket was refused at once (413 by size, 401 unsigned), or dropped over the connection limit.
    expect(large.filter((status) => status !== 413 && status !== 0)).toEqual([]);
    expect(small.filter((status) => status !== 401 && status !== 0)).toEqual([]);
    expect(large.filter((status) => status === 413).length).toBeGreaterThan(0);
    expect(small.filter((status) => status === 401).length).toBeGreaterThan(0);
    const after = await rss(bot.url);
    // Before the guard: 181 → 479 MB, and it stayed there.
    expect(peak - before).toBeLessThan(64 * MB);
    expect(after - before).toBeLessThan(48 * MB);
    await stillServing();
  }, 120_000);
});
