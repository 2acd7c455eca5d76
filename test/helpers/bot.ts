import { afterAll, beforeAll } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startBot, type RunningBot } from '../../src/bot.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { startSlackFake, type SlackFake } from '../fakes/slack-api.ts';
import { captureLogs } from './logs.ts';
import { tempSandbox } from './sandbox.ts';
import { sendSlashCommand, type SlackHttpResult, type SlackRequestOptions } from './slack-requests.ts';

/** The signing secret every test bot verifies against. */
export const TEST_SIGNING_SECRET = 'test-signing-secret-0123456789abcdef';

/** A real bot on 127.0.0.1 talking to a Slack fake, with its log lines captured. */
export interface TestBot {
  bot: RunningBot;
  slack: SlackFake;
  logs: Array<Record<string, unknown>>;
  /** Sends `/dr <text>` signed as Slack would, with the fake's response_url. */
  command(text: string, options?: SlackRequestOptions & { user?: string; channel?: string }): Promise<SlackHttpResult>;
  close(): Promise<void>;
}

/** Starts the bot against `configPath` (a sandbox's dr.yml) with its own state file or DR_STATE URL. */
export async function startTestBot(options: { configPath?: string; state?: string; env?: Record<string, string>; slackRetries?: number; schedules?: boolean; pagerCa?: string } = {}): Promise<TestBot> {
  const slack = await startSlackFake();
  const stateDir = await mkdtemp(path.join(tmpdir(), 'dr-state-'));
  const { logger, lines: logs } = captureLogs();
  const config = loadConfig({
    SLACK_BOT_TOKEN: 'xoxb-test-token',
    SLACK_SIGNING_SECRET: TEST_SIGNING_SECRET,
    SLACK_API_URL: slack.apiUrl,
    DR_STATE: options.state ?? path.join(stateDir, 'state.db'),
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    ...(options.configPath ? { DR_CONFIG: options.configPath } : {}),
    ...options.env,
  });
  const bot = await startBot(config, logger, { slackRetries: options.slackRetries ?? 3, schedules: options.schedules ?? false, ...(options.pagerCa ? { pagerCa: options.pagerCa } : {}) });
  // Start-up's auth.test must be done, and forgotten, before a test starts counting Slack calls.
  await slack.waitFor((c) => c.method === 'auth.test');
  slack.calls.splice(0, slack.calls.length, ...slack.calls.filter((c) => c.method !== 'auth.test'));
  return {
    bot,
    slack,
    logs,
    command: (text, opts = {}) =>
      sendSlashCommand(
        bot.url,
        TEST_SIGNING_SECRET,
        { text, response_url: slack.responseUrl(), ...(opts.user ? { user_id: opts.user } : {}), ...(opts.channel ? { channel_id: opts.channel } : {}) },
        opts,
      ),
    async close() {
      await bot.stop();
      await slack.close();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/**
 * Registers beforeAll/afterAll that run a sandbox DMS (server started unless `serverDown`; `sandbox` options such
 * as its config passed on) and a bot pointed at it.
 */
export function useSandboxBot(options: { corrupt?: boolean; serverDown?: boolean; sandbox?: Parameters<typeof tempSandbox>[0] } = {}): { sandbox: () => Sandbox; t: () => TestBot } {
  let sandbox: Sandbox | undefined;
  let testBot: TestBot | undefined;
  beforeAll(async () => {
    sandbox = await tempSandbox(options.sandbox);
    if (options.corrupt) await sandbox.corruptDatabase();
    if (!options.serverDown) await sandbox.startServer();
    testBot = await startTestBot({ configPath: sandbox.configPath });
  });
  afterAll(async () => {
    await testBot?.close();
    await sandbox?.destroy();
  });
  return { sandbox: () => sandbox!, t: () => testBot! };
}

/** A routing key the PagerDuty fake accepts (the Events API wants 32 characters). */
export const TEST_ROUTING_KEY = 'R0UTINGKEY0000000000000000000000';

/** startTestBot options that page into the PagerDuty fake: its URL and routing key, and trust in its CA. */
export function pagingInto(pagerduty: { url: string; caPem: string }): { env: Record<string, string>; pagerCa: string } {
  return { env: { PAGERDUTY_ROUTING_KEY: TEST_ROUTING_KEY, PAGERDUTY_EVENTS_URL: pagerduty.url }, pagerCa: pagerduty.caPem };
}
