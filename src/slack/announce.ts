import { WebClient } from '@slack/web-api';
import type { Config } from '../config/load.ts';
import { clampMrkdwn, escapeMrkdwn } from '../render/mrkdwn.ts';
import { SLACK_LIMITS } from './render/limits.ts';

/**
 * Posts one line into every configured channel, best effort and quickly: used by the terminal when it
 * breaks the glass, so people in Slack learn of it if Slack is there at all. The line is plain text, escaped here.
 */
export async function announceInSlack(config: Config, text: string): Promise<void> {
  const token = config.env.slackBotToken;
  if (!token) return;
  const client = new WebClient(token.reveal(), {
    ...(config.env.slackApiUrl ? { slackApiUrl: config.env.slackApiUrl } : {}),
    retryConfig: { retries: 1, minTimeout: 200, maxTimeout: 1_000 },
    timeout: 5_000,
  });
  const channels = [...new Set(Object.values(config.slack.channels))];
  await Promise.allSettled(channels.map((channel) => client.chat.postMessage({ channel, text: clampMrkdwn(escapeMrkdwn(text), SLACK_LIMITS.messageText) })));
}

/**
 * Posts into one channel straight through the Web API with a few retries (about half a minute in all):
 * for news that must not wait on the bot's own state store, such as that store being broken.
 */
export function directPoster(config: Config, channel: string): ((text: string) => Promise<void>) | undefined {
  const token = config.env.slackBotToken;
  if (!token) return undefined;
  const client = new WebClient(token.reveal(), {
    ...(config.env.slackApiUrl ? { slackApiUrl: config.env.slackApiUrl } : {}),
    retryConfig: { retries: 4, factor: 2, minTimeout: 1_000, maxTimeout: 10_000 },
    timeout: 10_000,
  });
  return async (text) => {
    await client.chat.postMessage({ channel, text });
  };
}
