// Proves the Slack fake and request helpers behave like Slack for the real WebClient and Bolt.
import { createHmac } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, LogLevel, webApi } from '@slack/bolt';
import { WebClient } from '@slack/web-api';
import type { RetryOptions } from '@slack/web-api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FAKE_SLACK, startSlackFake } from './slack-api.ts';
import type { SlackFake } from './slack-api.ts';
import { sendInteraction, sendSlashCommand, slackSignature } from '../helpers/slack-requests.ts';

let fake: SlackFake;
const TOKEN = 'xoxb-test-token';

// Error codes shared by web-api 7 and 8.
const RATE_LIMITED = 'slack_webapi_rate_limited_error';
const HTTP_ERROR = 'slack_webapi_http_error';
const PLATFORM_ERROR = 'slack_webapi_platform_error';

interface ClientOpts {
  rejectRateLimitedCalls?: boolean;
  retryConfig?: RetryOptions;
}

// Both encoders must work: top-level @slack/web-api 7 (axios) and the 8.x Bolt 5.1 bundles (fetch + FormData).
// Bolt's copy is cast to the v7 type only so one test body serves both; the runtime API is the same.
const flavours: { name: string; make: (token: string | undefined, opts: ClientOpts) => WebClient }[] = [
  {
    name: '@slack/web-api 7 (axios)',
    make: (token, o) =>
      new WebClient(token, {
        slackApiUrl: fake.apiUrl,
        retryConfig: o.retryConfig ?? { retries: 0 },
        rejectRateLimitedCalls: o.rejectRateLimitedCalls ?? false,
        logLevel: LogLevel.ERROR,
      }),
  },
  {
    name: "Bolt's bundled web-api 8 (fetch)",
    make: (token, o) =>
      new webApi.WebClient(token, {
        slackApiUrl: fake.apiUrl,
        retryConfig: o.retryConfig ?? { retries: 0 },
        rejectRateLimitedCalls: o.rejectRateLimitedCalls ?? false,
        logLevel: webApi.LogLevel.ERROR,
      }) as unknown as WebClient,
  },
];

// Catches a rejection so its WebClient error fields can be asserted.
async function rejection(p: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    return err as Record<string, unknown>;
  }
  throw new Error('expected the call to reject');
}

beforeAll(async () => {
  fake = await startSlackFake();
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => {
  fake.reset();
});

describe.each(flavours)('Slack Web API fake with $name', ({ make }) => {
  // retries: 0 because the default policy retries for ~30 minutes.
  const client = (opts: ClientOpts & { token?: string | undefined } = {}) =>
    make('token' in opts ? opts.token : TOKEN, opts);

  it('answers auth.test with the fake identity', async () => {
    const res = await client().auth.test();
    expect(res).toMatchObject({
      ok: true,
      team_id: FAKE_SLACK.teamId,
      user_id: FAKE_SLACK.botUserId,
      bot_id: FAKE_SLACK.botId,
      url: FAKE_SLACK.teamUrl,
    });
  });

  it('records postMessage with blocks decoded and answers with increasing ts', async () => {
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*backup* ok' } }];
    const a = await client().chat.postMessage({ channel: 'C123', text: 'backup ok', blocks });
    const b = await client().chat.postMessage({ channel: 'C123', text: 'again' });
    expect(a.ok).toBe(true);
    expect(a.channel).toBe('C123');
    expect(a.ts).toMatch(/^\d{10}\.\d{6}$/);
    expect(Number(b.ts)).toBeGreaterThan(Number(a.ts));
    expect(a.message?.blocks).toEqual(blocks);

    const call = fake.callsTo('chat.postMessage')[0];
    expect(call?.body.blocks).toEqual(blocks);
    expect(call?.body.text).toBe('backup ok');
    expect(call?.token).toBe(TOKEN);
    expect(call?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(call?.failed).toBeUndefined();
  });

  it('accepts application/json bodies and a token in the body', async () => {
    const res = await fetch(`${fake.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ token: 'xoxb-json', channel: 'C9', text: 'hi', attachments: [{ color: 'good' }] }),
    });
    expect(await res.json()).toMatchObject({ ok: true, channel: 'C9' });
    const call = await fake.waitFor((c) => c.method === 'chat.postMessage');
    expect(call.token).toBe('xoxb-json');
    expect(call.body.attachments).toEqual([{ color: 'good' }]);
  });

  it('answers the other methods with Slack-shaped results', async () => {
    const c = client();
    const posted = await c.chat.postMessage({ channel: 'C1', text: 'x' });
    await expect(c.chat.update({ channel: 'C1', ts: posted.ts!, text: 'y' })).resolves.toMatchObject({ ts: posted.ts });
    await expect(c.chat.postEphemeral({ channel: 'C1', user: 'U1', text: 'z' })).resolves.toHaveProperty('message_ts');
    await expect(c.chat.delete({ channel: 'C1', ts: posted.ts! })).resolves.toMatchObject({ ok: true });
    await expect(c.conversations.info({ channel: 'C1' })).resolves.toMatchObject({ channel: { id: 'C1' } });
    await expect(c.conversations.join({ channel: 'C1' })).resolves.toMatchObject({ channel: { id: 'C1' } });
    await expect(c.users.info({ user: 'U1' })).resolves.toMatchObject({ user: { id: 'U1' } });
    await expect(c.usergroups.users.list({ usergroup: 'S1' })).resolves.toMatchObject({ users: [] });
    const view = { type: 'modal' as const, title: { type: 'plain_text' as const, text: 'Restore' }, blocks: [] };
    await expect(c.views.open({ trigger_id: '1.2.abc', view })).resolves.toMatchObject({ view: { type: 'modal' } });
    await expect(c.views.update({ view_id: 'V1', view })).resolves.toMatchObject({ view: { id: 'V1' } });
    await expect(c.views.publish({ user_id: 'U1', view: { type: 'home', blocks: [] } })).resolves.toMatchObject({
      view: { type: 'home' },
    });
    expect(fake.callsTo('views.open')[0]?.body.view).toEqual(view);
  });

  it('lets a test replace an answer with on()', async () => {
    fake.on('usergroups.users.list', () => ({ users: ['U1', 'U2'] }));
    await expect(client().usergroups.users.list({ usergroup: 'S1' })).resolves.toMatchObject({ users: ['U1', 'U2'] });
  });

  it('429 with Retry-After rejects as rate limited when rejectRateLimitedCalls is set', async () => {
    fake.failNext('chat.postMessage', { retryAfter: 7 });
    const err = await rejection(client({ rejectRateLimitedCalls: true }).chat.postMessage({ channel: 'C1', text: 'x' }));
    expect(err.code).toBe(RATE_LIMITED);
    expect(err.retryAfter).toBe(7);
    const call = fake.calls[0];
    expect(call).toMatchObject({ method: 'chat.postMessage', status: 429, failed: true, injected: true });
    expect(call?.response).toEqual({ ok: false, error: 'ratelimited' });
  });

  it('429 without rejectRateLimitedCalls waits Retry-After, then retries per retryConfig', async () => {
    fake.failNext('chat.postMessage', { status: 429, retryAfter: 0 });
    // retries: 0 → never a platform error with `ratelimited`: v7 throws a plain Error (no code),
    // v8 wraps that same Error as a request error, the code a network failure gets.
    const err = await rejection(client().chat.postMessage({ channel: 'C1', text: 'x' }));
    expect(String(err.message)).toContain('A rate limit was exceeded');
    expect([undefined, 'slack_webapi_request_error']).toContain(err.code);

    fake.reset();
    fake.failNext('chat.postMessage', { retryAfter: 0 });
    const retrying = client({ retryConfig: { retries: 1, minTimeout: 0, maxTimeout: 0 } });
    await expect(retrying.chat.postMessage({ channel: 'C1', text: 'x' })).resolves.toMatchObject({ ok: true });
    expect(fake.callsTo('chat.postMessage').map((c) => c.status)).toEqual([429, 200]);
  });

  it('HTTP 500 rejects with an HTTP error', async () => {
    fake.failNext('chat.postMessage', { status: 500 });
    const err = await rejection(client().chat.postMessage({ channel: 'C1', text: 'x' }));
    expect(err.code).toBe(HTTP_ERROR);
    expect(err.statusCode).toBe(500);
    expect(err.body).toEqual({ ok: false, error: 'internal_error' });
  });

  it('ok:false rejects with a platform error carrying the Slack error code', async () => {
    fake.failNext('chat.postMessage', { error: 'channel_not_found', times: 2 });
    const c = client();
    for (let i = 0; i < 2; i++) {
      const err = await rejection(c.chat.postMessage({ channel: 'C1', text: 'x' }));
      expect(err.code).toBe(PLATFORM_ERROR);
      expect((err.data as { error: string }).error).toBe('channel_not_found');
    }
    await expect(c.chat.postMessage({ channel: 'C1', text: 'x' })).resolves.toMatchObject({ ok: true });
    expect(fake.callsTo('chat.postMessage').map((c2) => c2.failed ?? false)).toEqual([true, true, false]);
  });

  it("refuses blocks and text beyond Block Kit's limits the way Slack does, naming the limit and where", async () => {
    const c = client();
    const code = async (p: Promise<unknown>) => (await rejection(p)).data as { error: string; errors?: string[] };
    const section = (n: number) => [{ type: 'section' as const, text: { type: 'mrkdwn' as const, text: 'x'.repeat(n) } }];
    await expect(c.chat.postMessage({ channel: 'C1', text: 'ok', blocks: section(3000) })).resolves.toMatchObject({ ok: true });
    expect(await code(c.chat.postMessage({ channel: 'C1', text: 'no', blocks: section(3001) }))).toMatchObject({ error: 'invalid_blocks', errors: ['must be less than 3001 characters [json-pointer:/blocks/0/text/text]'] });
    expect((await code(c.chat.update({ channel: 'C1', ts: '1.2', text: 'no', blocks: section(0) }))).errors).toEqual(['must be more than 0 characters [json-pointer:/blocks/0/text/text]']);
    const header = [{ type: 'header' as const, text: { type: 'plain_text' as const, text: 'h'.repeat(151) } }];
    expect((await code(c.chat.postMessage({ channel: 'C1', text: 'no', blocks: header }))).errors).toEqual(['must be less than 151 characters [json-pointer:/blocks/0/text/text]']);
    const button = [{ type: 'actions' as const, elements: [{ type: 'button' as const, action_id: 'a', text: { type: 'plain_text' as const, text: 'b'.repeat(76) }, confirm: { title: { type: 'plain_text' as const, text: 'ok' }, text: { type: 'mrkdwn' as const, text: 't'.repeat(301) }, confirm: { type: 'plain_text' as const, text: 'y' }, deny: { type: 'plain_text' as const, text: 'n' } } }] }];
    expect((await code(c.chat.postEphemeral({ channel: 'C1', user: 'U1', text: 'no', blocks: button }))).errors).toEqual([
      'must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]',
      'must be less than 301 characters [json-pointer:/blocks/0/elements/0/confirm/text/text]',
    ]);
    const context = [{ type: 'context' as const, elements: [{ type: 'mrkdwn' as const, text: 'c'.repeat(3001) }] }];
    expect((await code(c.chat.postMessage({ channel: 'C1', text: 'no', blocks: context }))).error).toBe('invalid_blocks');
    const many = Array.from({ length: 51 }, () => ({ type: 'divider' as const }));
    expect((await code(c.chat.postMessage({ channel: 'C1', text: 'no', blocks: many }))).errors).toEqual(['no more than 50 items allowed [json-pointer:/blocks]']);
    expect((await code(c.chat.postMessage({ channel: 'C1', text: 't'.repeat(40_001) }))).error).toBe('msg_too_long');
    expect((await code(c.views.publish({ user_id: 'U1', view: { type: 'home', blocks: Array.from({ length: 101 }, () => ({ type: 'divider' as const })) } }))).error).toBe('invalid_arguments');
    // Every refusal is recorded as a failed call, like any other.
    expect(fake.calls.filter((call) => call.failed).length).toBe(8);
  });

  it('answers not_in_channel where the bot is not a member, and joins public channels by id only', async () => {
    const c = client();
    const code = async (p: Promise<unknown>) => ((await rejection(p)).data as { error: string }).error;
    fake.setChannel('C0PUBLIC', { member: false });
    fake.setChannel('G0PRIVATE', { member: false, private: true });
    fake.setChannel('C0ARCHIVED', { member: false, archived: true });
    expect(await code(c.chat.postMessage({ channel: 'C0PUBLIC', text: 'x' }))).toBe('not_in_channel');
    expect(await code(c.chat.update({ channel: 'C0PUBLIC', ts: '1.2', text: 'x' }))).toBe('not_in_channel');
    expect(await code(c.conversations.history({ channel: 'C0PUBLIC' }))).toBe('not_in_channel');
    expect(await code(c.conversations.join({ channel: '#public' }))).toBe('channel_not_found');
    expect(await code(c.conversations.join({ channel: 'G0PRIVATE' }))).toBe('method_not_supported_for_channel_type');
    expect(await code(c.conversations.join({ channel: 'C0ARCHIVED' }))).toBe('is_archived');
    await expect(c.conversations.join({ channel: 'C0PUBLIC' })).resolves.toMatchObject({ ok: true, channel: { id: 'C0PUBLIC' } });
    await expect(c.chat.postMessage({ channel: 'C0PUBLIC', text: 'x' })).resolves.toMatchObject({ ok: true });
    expect(await code(c.chat.postMessage({ channel: 'G0PRIVATE', text: 'x' }))).toBe('not_in_channel');
    // Channels a test did not configure are ones the bot is in.
    await expect(c.chat.postMessage({ channel: 'C0ELSE', text: 'x' })).resolves.toMatchObject({ ok: true });
  });

  it('answers not_authed, invalid_auth and unknown_method like Slack', async () => {
    const code = async (p: Promise<unknown>) => ((await rejection(p)).data as { error: string }).error;
    expect(await code(client({ token: undefined }).auth.test())).toBe('not_authed');
    expect(await code(client({ token: 'xoxb-invalid' }).auth.test())).toBe('invalid_auth');
    expect(await code(client().apiCall('no.such.method'))).toBe('unknown_method');
  });

  it('files.uploadV2 works end to end and records the bytes', async () => {
    const content = 'restore report\nline 2 ✓';
    const res = await client().files.uploadV2({
      channel_id: 'C1',
      filename: 'report.txt',
      title: 'Restore report',
      content,
      initial_comment: 'here',
    });
    expect(res.ok).toBe(true);
    const completion = (res as unknown as { files: { files: { id: string; title: string }[] }[] }).files;
    const file = completion[0]?.files[0];
    expect(file?.title).toBe('Restore report');
    expect(file?.id).toMatch(/^F/);

    expect(fake.calls.map((c) => c.method)).toEqual([
      'files.getUploadURLExternal',
      'upload_url',
      'files.completeUploadExternal',
    ]);
    const [getUrl, upload, complete] = fake.calls;
    expect(getUrl?.body).toMatchObject({ filename: 'report.txt', length: String(Buffer.byteLength(content)) });
    expect(upload?.bytes?.toString('utf8')).toBe(content);
    expect(upload?.body).toMatchObject({ file_id: file?.id, length: Buffer.byteLength(content), content });
    expect(upload?.response).toBe(`OK - ${Buffer.byteLength(content)}`);
    expect(complete?.body).toMatchObject({ channel_id: 'C1', initial_comment: 'here', files: [{ id: file?.id }] });
  });

  it('records response_url POSTs and can fail them', async () => {
    const url = fake.responseUrl('cmd-1');
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'done', response_type: 'ephemeral' }),
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok');
    const call = await fake.waitFor((c) => c.method === 'response_url');
    expect(call).toMatchObject({ responseId: 'cmd-1', body: { text: 'done', response_type: 'ephemeral' } });

    fake.failNext('response_url', { status: 404, error: 'expired_url' });
    const failed = await fetch(url, { method: 'POST', body: '{}' });
    expect(failed.status).toBe(404);
    expect(fake.callsTo('response_url')[1]?.failed).toBe(true);
  });

  it('waitFor resolves on a future call and times out listing what it saw', async () => {
    const pending = fake.waitFor((c) => c.method === 'chat.update');
    await client().chat.postMessage({ channel: 'C1', text: 'x' });
    await client().chat.update({ channel: 'C1', ts: '1.2', text: 'y' });
    await expect(pending).resolves.toMatchObject({ method: 'chat.update' });

    await expect(fake.waitFor((c) => c.method === 'views.open', 100)).rejects.toThrow(
      /timed out after 100 ms .*views\.open.*2 call\(s\) seen: chat\.postMessage, chat\.update/,
    );
  });
});

describe('slackSignature', () => {
  it("matches Slack's documented example", () => {
    const body =
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    expect(slackSignature('8f742231b10e8888abcd99yyyzzz85a5', 1531420618, body)).toBe(
      'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
    );
  });

  it('matches an independent HMAC computation', () => {
    const expected = `v0=${createHmac('sha256', 's3cret').update('v0:1700000000:a=1&b=2').digest('hex')}`;
    expect(slackSignature('s3cret', 1700000000, 'a=1&b=2')).toBe(expected);
  });
});

describe('request helpers against a real Bolt HTTP receiver', () => {
  const SECRET = 'test-signing-secret';
  let app: App;
  let baseUrl: string;

  beforeAll(async () => {
    app = new App({
      signingSecret: SECRET,
      token: TOKEN,
      botId: FAKE_SLACK.botId,
      botUserId: FAKE_SLACK.botUserId,
      logLevel: LogLevel.ERROR,
      clientOptions: { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } },
    });
    app.command('/dr', async ({ ack, respond, command, client: web, context }) => {
      await ack();
      await respond({ text: `got ${command.text} retry=${context.retryNum ?? 0}` });
      await web.chat.postMessage({ channel: command.channel_id, text: `by ${command.user_id}` });
    });
    app.action('approve', async ({ ack, body, respond }) => {
      await ack();
      await respond({ text: `approved by ${body.user.id}` });
    });
    const server = (await app.start({ port: 0, host: '127.0.0.1' })) as Server;
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app.stop();
  });

  it('a signed slash command is acked and its handler reaches the fake', async () => {
    const res = await sendSlashCommand(baseUrl, SECRET, { text: 'status', response_url: fake.responseUrl('c1') });
    expect(res.status).toBe(200);
    expect(res.ms).toBeGreaterThan(0);
    const responded = await fake.waitFor((c) => c.method === 'response_url');
    expect(responded).toMatchObject({ responseId: 'c1', body: { text: 'got status retry=0' } });
    const posted = await fake.waitFor((c) => c.method === 'chat.postMessage');
    expect(posted.body).toMatchObject({ channel: 'C0OPS00001', text: 'by U0USER0001' });
  });

  it('retry headers reach the handler as context.retryNum', async () => {
    await sendSlashCommand(baseUrl, SECRET, { text: 'x', response_url: fake.responseUrl('r') }, { retryNum: 2 });
    await expect(fake.waitFor((c) => c.method === 'response_url')).resolves.toMatchObject({
      body: { text: 'got x retry=2' },
    });
    // Let the handler finish so its postMessage doesn't land in the next test.
    await fake.waitFor((c) => c.method === 'chat.postMessage');
  });

  it('bad signatures and stale timestamps get 401', async () => {
    const bad = await sendSlashCommand(baseUrl, SECRET, { text: 'x' }, { badSignature: true });
    expect(bad.status).toBe(401);
    const stale = await sendSlashCommand(baseUrl, SECRET, { text: 'x' }, { timestamp: Math.floor(Date.now() / 1000) - 600 });
    expect(stale.status).toBe(401);
    expect(fake.calls).toEqual([]);
  });

  it('sendInteraction delivers block_actions as payload=<json>', async () => {
    const res = await sendInteraction(baseUrl, SECRET, {
      type: 'block_actions',
      team: { id: FAKE_SLACK.teamId, domain: 'fake-team' },
      user: { id: 'U0USER0002', username: 'lead', team_id: FAKE_SLACK.teamId },
      api_app_id: FAKE_SLACK.appId,
      token: 'fake-verification-token',
      trigger_id: '1.2.abc',
      channel: { id: 'C0OPS00001', name: 'ops' },
      container: { type: 'message', message_ts: '1700000000.000100', channel_id: 'C0OPS00001' },
      response_url: fake.responseUrl('a1'),
      actions: [{ type: 'button', action_id: 'approve', block_id: 'b', value: 'r1', action_ts: '1700000001.0' }],
    });
    expect(res.status).toBe(200);
    await expect(fake.waitFor((c) => c.method === 'response_url')).resolves.toMatchObject({
      responseId: 'a1',
      body: { text: 'approved by U0USER0002' },
    });
  });
});
