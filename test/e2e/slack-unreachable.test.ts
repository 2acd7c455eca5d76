import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startBot } from '../../src/bot.ts';
import { loadConfig } from '../../src/config/load.ts';
import { captureLogs } from '../helpers/logs.ts';
import { TEST_SIGNING_SECRET } from '../helpers/bot.ts';
import { sendSlashCommand } from '../helpers/slack-requests.ts';

/** A local port with nothing listening on it: connections are refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('Slack unreachable at start-up', () => {
  it('starts anyway, says so in /healthz, logs it, and still acks signed commands', async () => {
    const { logger, lines: logs } = captureLogs();
    const config = loadConfig({
      SLACK_BOT_TOKEN: 'xoxb-test',
      SLACK_SIGNING_SECRET: TEST_SIGNING_SECRET,
      SLACK_API_URL: `http://127.0.0.1:${await closedPort()}/api/`,
      DR_STATE: path.join(await mkdtemp(path.join(tmpdir(), 'dr-unreach-')), 'state.db'),
      PORT: '0',
      HOST: '127.0.0.1',
    });
    const bot = await startBot(config, logger, { slackRetries: 0, schedules: false });
    try {
      await expect.poll(() => logs.some((l) => l.msg === 'Slack API unreachable; commands still answer when it comes back'), { timeout: 5_000 }).toBe(true);
      const health = await fetch(`${bot.url}/healthz`);
      expect(health.status).toBe(200);
      expect((await health.json()).slack).toMatchObject({ mode: 'http', api: { reachable: false, error: expect.stringContaining('fetch failed') } });
      const response = await sendSlashCommand(bot.url, TEST_SIGNING_SECRET, { text: 'stauts' });
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body).text).toContain('Did you mean `status`?');
    } finally {
      await bot.stop();
    }
  });
});
