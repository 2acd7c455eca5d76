import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { helpEntries } from '../../src/commands/registry.ts';
import { useSandboxBot, type TestBot } from '../helpers/bot.ts';

// Everything here must be refused or answered without running a procedure: no audit row for a
// forged request, no chat.postMessage for a refused command.
describe('requests the bot must refuse or answer safely', () => {
  const subject = useSandboxBot();
  let t: TestBot;
  beforeAll(() => {
    t = subject.t();
  });
  afterEach(() => t.slack.reset());

  const auditRows = async () => (await t.bot.deps.store.listAudit()).length;
  const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

  it('answers 401 to a bad signature and runs nothing', async () => {
    const before = await auditRows();
    const response = await t.command('status', { badSignature: true });
    expect(response.status).toBe(401);
    await settle();
    expect(await auditRows()).toBe(before);
    expect(t.slack.calls).toEqual([]);
  });

  it('answers 401 to a timestamp older than five minutes and runs nothing', async () => {
    const before = await auditRows();
    const response = await t.command('status', { timestamp: Math.floor(Date.now() / 1000) - 10 * 60 });
    expect(response.status).toBe(401);
    await settle();
    expect(await auditRows()).toBe(before);
    expect(t.slack.calls).toEqual([]);
  });

  it('answers empty text with help, generated from the registry: the whole grammar, all of it built', async () => {
    const response = await t.command('');
    expect(response.status).toBe(200);
    const answer = await t.slack.waitFor((c) => c.method === 'response_url');
    expect(answer.body.response_type).toBe('ephemeral');
    const text = JSON.stringify(answer.body.blocks);
    for (const usage of ['status', 'backup [db|storage|config|all]', 'restore db [latest|ID]', 'rotate-secrets [KEY ...]', 'history [N] [--verify]', 'incident notify security|legal|tenants', 'checklist']) {
      expect(text).toContain(`/dr ${usage}`);
    }
    expect(text).not.toContain('not built yet');
  });

  it('refuses 10 kB of text politely in the ack, and records it', async () => {
    const response = await t.command('status '.repeat(1_500));
    expect(response.status).toBe(200);
    const body = JSON.parse(response.body) as { response_type: string; text: string };
    expect(body.response_type).toBe('ephemeral');
    expect(body.text).toMatch(/10500 characters; \/dr commands are short .* Nothing was run\./);
    await settle();
    expect(t.slack.calls.filter((c) => c.method === 'chat.postMessage')).toEqual([]);
    expect((await t.bot.deps.store.listAudit()).at(-1)).toMatchObject({ command: 'unknown', outcome: 'command_too_long' });
  });

  it('treats `status; rm -rf /` as unknown, names the closest command, and runs nothing', async () => {
    const response = await t.command('status; rm -rf /');
    const body = JSON.parse(response.body) as { text: string };
    expect(body.text).toContain('`status;` is not a /dr command. Nothing was run.');
    expect(body.text).toContain('Did you mean `status`?');
    await settle();
    expect(t.slack.calls.filter((c) => c.method === 'chat.postMessage')).toEqual([]);
  });

  it('handles emoji and other unicode without crashing or echoing markup', async () => {
    for (const text of ['🔥 status', 'stätus', '<!channel> 日本語', 'restore 💾']) {
      const response = await t.command(text);
      expect(response.status).toBe(200);
      const body = JSON.parse(response.body) as { text: string };
      expect(body.text).toMatch(/Nothing was run\./);
      expect(body.text).not.toContain('<!channel>');
    }
    expect(JSON.parse((await t.command('restore 💾')).body).text).toContain('`restore` needs one of: db, storage, all, undo');
  });

  it('keeps answering after Slack answers 500 twice, retrying with backoff and logging each failure', async () => {
    t.slack.failNext('chat.postMessage', { status: 500, times: 2 });
    const response = await t.command('status');
    expect(response.status).toBe(200);
    const posted = await t.slack.waitFor((c) => c.method === 'chat.postMessage' && !c.failed, 15_000);
    const attempts = t.slack.calls.filter((c) => c.method === 'chat.postMessage');
    expect(attempts.map((c) => c.status)).toEqual([500, 500, 200]);
    expect(posted.at - attempts[0]!.at).toBeGreaterThanOrEqual(400);
    expect(t.logs.filter((l) => l.msg === 'Slack API call failed; retrying with backoff')).toHaveLength(2);
    expect((await fetch(`${t.bot.url}/healthz`)).status).toBe(200);
  });

  it('waits out a 429 for Retry-After seconds, then delivers', async () => {
    t.slack.failNext('chat.postMessage', { retryAfter: 1 });
    await t.command('status');
    const posted = await t.slack.waitFor((c) => c.method === 'chat.postMessage' && !c.failed, 15_000);
    const limited = t.slack.calls.find((c) => c.method === 'chat.postMessage' && c.status === 429)!;
    expect(posted.at - limited.at).toBeGreaterThanOrEqual(1_000);
    expect(t.logs.some((l) => String(l.msg).includes('rate limiting'))).toBe(true);
  });

  it('survives Slack giving up entirely: the failure is logged and the bot still serves', async () => {
    t.slack.failNext('chat.postMessage', { status: 500, times: 10 });
    t.slack.failNext('response_url', { status: 500, times: 10 });
    await t.command('status');
    await t.slack.waitFor((c) => c.method === 'chat.postMessage' && c.failed === true, 5_000);
    await expect.poll(() => t.logs.some((l) => l.msg === 'could not deliver the answer to Slack'), { timeout: 20_000 }).toBe(true);
    t.slack.reset();
    expect((await t.command('')).status).toBe(200);
    await t.slack.waitFor((c) => c.method === 'response_url' && !c.failed);
  });

  it('falls back to the response_url when the bot is not in the channel', async () => {
    t.slack.failNext('chat.postMessage', { error: 'not_in_channel' });
    await t.command('status', { channel: 'C0PRIVATE1' });
    const answer = await t.slack.waitFor((c) => c.method === 'response_url', 10_000);
    expect(answer.body.response_type).toBe('in_channel');
    expect(JSON.stringify(answer.body.blocks)).toContain('DMS database');
  });

  it('answers a burst of /dr status in one channel with one shared report, auditing every request', async () => {
    const before = await auditRows();
    const responses = await Promise.all(Array.from({ length: 10 }, (_, i) => t.command('status', { user: `U0BURST00${i}` })));
    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(200));
    await expect.poll(auditRows, { timeout: 10_000 }).toBe(before + 10);
    await t.slack.waitFor((c) => c.method === 'chat.postMessage' && !c.failed);
    await settle();
    const posts = t.slack.calls.filter((c) => c.method === 'chat.postMessage');
    expect(posts.length).toBeGreaterThanOrEqual(1);
    expect(posts.length).toBeLessThan(10);
  });

  it('posts the shared report once in each channel that asked', async () => {
    await Promise.all([t.command('status', { channel: 'C0CHANNELA' }), t.command('status', { channel: 'C0CHANNELB' })]);
    await t.slack.waitFor((c) => c.method === 'chat.postMessage' && c.body.channel === 'C0CHANNELA');
    await t.slack.waitFor((c) => c.method === 'chat.postMessage' && c.body.channel === 'C0CHANNELB');
  });
});
