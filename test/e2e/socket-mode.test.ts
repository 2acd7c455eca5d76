import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { startBot, type RunningBot } from '../../src/bot.ts';
import { loadConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { startSlackFake, type SlackFake } from '../fakes/slack-api.ts';
import { startSlackSocketFake, type SlackSocketFake } from '../fakes/slack-socket.ts';
import { defaultSlashFields } from '../helpers/slack-requests.ts';
import { tempSandbox } from '../helpers/sandbox.ts';

describe('Socket Mode (SLACK_APP_TOKEN set)', () => {
  let sandbox: Sandbox;
  let api: SlackFake;
  let socket: SlackSocketFake;
  let bot: RunningBot;
  beforeAll(async () => {
    sandbox = await tempSandbox();
    await sandbox.startServer();
    api = await startSlackFake();
    socket = await startSlackSocketFake(api);
    // Slack refuses the first connection attempt: the bot must retry, not crash.
    api.failNext('apps.connections.open', { status: 500 });
    const config = loadConfig({
      SLACK_BOT_TOKEN: 'xoxb-socket',
      SLACK_APP_TOKEN: 'xapp-1-socket',
      SLACK_API_URL: api.apiUrl,
      DR_CONFIG: sandbox.configPath,
      DR_STATE: path.join(await mkdtemp(path.join(tmpdir(), 'dr-socket-')), 'state.db'),
      PORT: '0',
      HOST: '127.0.0.1',
    });
    bot = await startBot(config, createLogger('silent', new Writable({ write: (_c, _e, done) => done() })), { slackRetries: 0, schedules: false });
  });
  afterAll(async () => {
    await bot?.stop();
    await socket?.close();
    await api?.close();
    await sandbox?.destroy();
  });

  it('needs no signing secret, connects after a refused first attempt, and says so in /healthz', async () => {
    await socket.connected();
    const health = await (await fetch(`${bot.url}/healthz`)).json();
    expect(health.slack.mode).toBe('socket');
    expect(api.callsTo('apps.connections.open').map((c) => c.status)).toEqual([500, 200]);
  });

  it('acks a slash command envelope and posts the status report', async () => {
    const ack = await socket.push('slash_commands', { ...defaultSlashFields(), text: 'status', response_url: api.responseUrl() });
    expect(ack.envelope_id).toEqual(expect.any(String));
    const posted = await api.waitFor((c) => c.method === 'chat.postMessage', 10_000);
    expect(JSON.stringify(posted.body.blocks)).toContain('DMS database');
  });

  it('answers an unknown command in the ack payload', async () => {
    const ack = await socket.push('slash_commands', { ...defaultSlashFields(), text: 'stauts' });
    expect(JSON.stringify(ack.payload)).toContain('Did you mean `status`?');
  });
});
