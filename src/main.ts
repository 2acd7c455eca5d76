import { startBot } from './bot.ts';
import { loadConfig } from './config/load.ts';
import { DrError, errorText } from './domain/errors.ts';
import { createLogger } from './observability/logger.ts';
import { installProcessGuards } from './observability/process-guards.ts';

/** `npm start`: exits 2 with a readable reason when the bot cannot start (bad config, missing Slack variables, state store down). */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.env.logLevel);
  installProcessGuards(process, logger, (message, code) => {
    process.stderr.write(message);
    process.exit(code);
  });
  const bot = await startBot(config, logger);
  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'shutting down');
    await bot.stop();
    process.exit(0);
  };
  const stopOn = (signal: string) => () =>
    shutdown(signal).catch((error: unknown) => {
      logger.error({ err: errorText(error) }, 'shutdown failed');
      process.exit(1);
    });
  process.once('SIGTERM', stopOn('SIGTERM'));
  process.once('SIGINT', stopOn('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`dr-bot: cannot start: ${error instanceof DrError ? error.userMessage : errorText(error)}\n`);
  process.exit(2);
});
