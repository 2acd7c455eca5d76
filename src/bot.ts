import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { DispatchDeps } from './commands/dispatch.ts';
import { composeDeps } from './compose.ts';
import type { Config } from './config/load.ts';
import { createHttpServer } from './http/server.ts';
import { createSlackSurface, type SlackSurface } from './slack/app.ts';
import { startBackupSchedules } from './scheduler/backup-schedules.ts';

/** A started bot: its listener, Slack surface and services. */
export interface RunningBot {
  server: Server;
  url: string;
  slack: SlackSurface;
  deps: DispatchDeps;
  stop(): Promise<void>;
}

/** Wires config → state → ports → Slack + HTTP, and listens on PORT/HOST. */
export async function startBot(config: Config, logger: Logger, options: { slackRetries?: number; schedules?: boolean } = {}): Promise<RunningBot> {
  const deps = await composeDeps(config, logger);
  let slack: SlackSurface;
  try {
    slack = createSlackSurface(deps, options.slackRetries === undefined ? {} : { retries: options.slackRetries });
  } catch (error) {
    await deps.store.close();
    throw error;
  }
  const server = createHttpServer({ store: deps.store, metrics: deps.metrics, slack, alertToken: config.env.alertToken, logger, startedAt: new Date() });
  server.listen(config.env.port, config.env.host);
  await once(server, 'listening');
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  logger.info({ port, slack: slack.mode, state: deps.store.kind, config: config.env.configPath ?? 'built-in defaults' }, 'dr-bot listening');
  await slack.start();
  const schedules = options.schedules === false ? undefined : await startBackupSchedules(deps, slack.alerts);
  return {
    server,
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    slack,
    deps,
    async stop() {
      await schedules?.stop();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await slack.stop();
      await deps.store.close();
    },
  };
}
