import { once } from 'node:events';
import { composeDeps } from './compose.ts';
import { loadConfig } from './config/load.ts';
import { DrError, errorText } from './domain/errors.ts';
import { createHttpServer } from './http/server.ts';
import { createLogger } from './observability/logger.ts';
import { createSlackSurface } from './slack/app.ts';

/** Composition root: config → state → ports → Slack + HTTP. Exits non-zero with a readable reason when it cannot start. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    process.stderr.write(`dr-bot: ${error instanceof DrError ? error.userMessage : errorText(error)}\n`);
    process.exit(2);
  }
  const logger = createLogger(config.env.logLevel);
  const deps = await composeDeps(config, logger);
  const slack = createSlackSurface(deps);
  const server = createHttpServer({ store: deps.store, metrics: deps.metrics, slack, logger, startedAt: new Date() });
  server.listen(config.env.port, config.env.host);
  await once(server, 'listening');
  const address = server.address();
  logger.info({ address, slack: slack.mode, state: deps.store.kind, config: config.env.configPath ?? 'built-in defaults' }, 'dr-bot listening');
  await slack.start();

  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'shutting down');
    server.close();
    await slack.stop();
    await deps.store.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`dr-bot: cannot start: ${error instanceof DrError ? error.userMessage : errorText(error)}\n`);
  process.exit(2);
});
