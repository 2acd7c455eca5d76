import { App, HTTPReceiver, LogLevel, SocketModeReceiver, type Logger as BoltLogger } from '@slack/bolt';
import type { Logger } from 'pino';
import type { DispatchDeps } from '../commands/dispatch.ts';
import { DrError, errorText } from '../domain/errors.ts';
import { slackLogger } from '../observability/logger.ts';
import { registerSlashCommand } from './listeners/command.ts';
import { registerGateListeners } from './listeners/gate.ts';
import { startGateExpirySweep } from './gate-expiry.ts';
import { WebClient } from '@slack/web-api';
import { slackAlertDeliverer } from './alert-delivery.ts';
import { registerAlertListeners } from './listeners/alert.ts';
import { registerChecklistListeners } from './listeners/checklist.ts';
import { registerHomeListener } from './listeners/home.ts';
import type { OutboxDeliverer } from '../alerts/outbox-worker.ts';
import { MAX_SLACK_BODY_BYTES } from '../http/slack-events.ts';

/** How the bot talks to Slack, and whether Slack's Web API has answered yet. */
export interface SlackSurface {
  mode: 'http' | 'socket';
  /** Node request listener for POST /slack/events (HTTP mode only). */
  requestListener: ((req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void) | undefined;
  /** Delivers queued alert notifications into the configured channels (the outbox's Slack side). */
  alertDeliverer: OutboxDeliverer;
  /** Result of the last auth.test: who the bot is, or why Slack did not answer. */
  identity(): { reachable: boolean; team?: string; botUserId?: string; error?: string };
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Retries with backoff for Web API calls; long enough to ride out a blip, short enough for an incident. */
function retryConfig(logger: Logger) {
  return {
    retries: 5,
    factor: 2,
    minTimeout: 500,
    maxTimeout: 10_000,
    randomize: true,
    onFailedAttempt: (error: Error & { attemptNumber?: number; retriesLeft?: number }) => {
      logger.warn({ attempt: error.attemptNumber, retriesLeft: error.retriesLeft, err: errorText(error) }, 'Slack API call failed; retrying with backoff');
    },
  };
}

/** Builds the Bolt app: HTTP receiver (signed requests on /slack/events) or Socket Mode when SLACK_APP_TOKEN is set. */
export function createSlackSurface(deps: DispatchDeps, options: { retries?: number } = {}): SlackSurface {
  const env = deps.config.env;
  const missing = [!env.slackBotToken && 'SLACK_BOT_TOKEN', !env.slackSigningSecret && !env.slackAppToken && 'SLACK_SIGNING_SECRET'].filter(Boolean);
  if (missing.length > 0) {
    throw new DrError('CONFIG_INVALID', `Slack is not configured: ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set. Set them (see README), or use the CLI: npx dr status`);
  }
  const botToken = env.slackBotToken!.reveal();
  const logger = deps.logger.child({ component: 'slack' });
  const boltLogger = slackLogger(deps.logger) as unknown as BoltLogger;
  const socketMode = env.slackAppToken !== undefined;
  const receiver = socketMode
    ? new SocketModeReceiver({ appToken: env.slackAppToken!.reveal(), logger: boltLogger, ...(env.slackApiUrl ? { installerOptions: { clientOptions: { slackApiUrl: env.slackApiUrl } } } : {}) })
    : new HTTPReceiver({
        signingSecret: env.slackSigningSecret!.reveal(),
        // The only way in is the guard in front (http/slack-events.ts), which has verified the signature (and
        // the timestamp, both ways) of every request it hands on: checking it again here would only double the
        // HMAC on the ack's path.
        signatureVerification: false,
        endpoints: '/slack/events',
        processBeforeResponse: false,
        logger: boltLogger,
        // Bodies are read, limited and verified in front of Bolt (http/slack-events.ts); this is a second fence.
        bodyLimit: MAX_SLACK_BODY_BYTES,
      });

  let identity: ReturnType<SlackSurface['identity']> = { reachable: false, error: 'auth.test pending' };
  const app = new App({
    receiver,
    // An authorize function instead of `token`: Bolt then never calls auth.test on its own, so an
    // unreachable Slack at start-up cannot crash the process.
    authorize: async () => ({ botToken, ...(identity.botUserId ? { botUserId: identity.botUserId } : {}) }),
    logger: boltLogger,
    logLevel: LogLevel.INFO,
    clientOptions: {
      ...(env.slackApiUrl ? { slackApiUrl: env.slackApiUrl } : {}),
      retryConfig: options.retries === undefined ? retryConfig(logger) : { ...retryConfig(logger), retries: options.retries },
    },
  });
  app.error(async (error) => {
    logger.error({ err: errorText(error) }, 'unhandled error in a Slack listener');
  });
  // Roles may name user groups; Slack says who is in them.
  deps.roles.useGroupLookup(async (usergroup) => (await app.client.usergroups.users.list({ token: botToken, usergroup })).users ?? []);
  registerSlashCommand(app, deps);
  registerGateListeners(app, deps);
  registerAlertListeners(app, deps);
  registerChecklistListeners(app, deps);
  registerHomeListener(app, deps);

  let stopped = false;
  let expirySweep: ReturnType<typeof startGateExpirySweep> | undefined;
  const checkIdentity = async (attempt: number): Promise<void> => {
    try {
      const answer = await app.client.auth.test({ token: botToken });
      identity = { reachable: true, team: answer.team ?? '', botUserId: answer.user_id ?? '' };
      logger.info({ team: answer.team, botUserId: answer.user_id }, 'Slack identity confirmed');
    } catch (error) {
      identity = { reachable: false, error: errorText(error) };
      logger.warn({ err: identity.error, attempt }, 'Slack API unreachable; commands still answer when it comes back');
      if (!stopped) setTimeout(() => void checkIdentity(attempt + 1), Math.min(60_000, 2_000 * 2 ** attempt)).unref();
    }
  };

  // Socket Mode needs Slack to hand out a WebSocket URL; until it does, keep trying in the background.
  const connectSocket = async (attempt: number): Promise<void> => {
    try {
      await app.start();
      logger.info('Socket Mode connected');
    } catch (error) {
      logger.warn({ err: errorText(error), attempt }, 'Socket Mode could not connect; retrying');
      if (!stopped) setTimeout(() => void connectSocket(attempt + 1), Math.min(60_000, 1_000 * 2 ** attempt)).unref();
    }
  };

  return {
    mode: socketMode ? 'socket' : 'http',
    requestListener: receiver instanceof HTTPReceiver ? receiver.requestListener : undefined,
    identity: () => identity,
    alertDeliverer: slackAlertDeliverer({
      // Its own client without retries: the outbox retries, honours Retry-After and keeps order.
      client: new WebClient(botToken, { ...(env.slackApiUrl ? { slackApiUrl: env.slackApiUrl } : {}), retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, timeout: 10_000 }),
      store: deps.store,
      contacts: { ...(deps.config.contacts.dba ? { dba: deps.config.contacts.dba } : {}), ...(deps.config.contacts.management ? { management: deps.config.contacts.management } : {}) },
      stakeholdersChannel: deps.config.slack.channels.stakeholders,
      criticalChannel: deps.config.slack.channels.critical,
      logger,
    }),
    async start() {
      expirySweep ??= startGateExpirySweep(app.client, botToken, deps);
      void checkIdentity(0);
      if (socketMode) void connectSocket(0);
    },
    async stop() {
      stopped = true;
      expirySweep?.stop();
      if (socketMode) await app.stop().catch(() => {});
    },
  };
}
