import { userInfo } from 'node:os';
import { Command } from 'commander';
import { executeCommand } from '../commands/dispatch.ts';
import { composeDeps } from '../compose.ts';
import { loadConfig } from '../config/load.ts';
import { DrError, toDrError } from '../domain/errors.ts';
import { createLogger } from '../observability/logger.ts';
import { exitCodeOf, renderError, renderOutcome } from './render.ts';

/** `dr …` in a terminal: the same commands, parser and procedures as Slack, for when Slack is down. Resolves to the exit code. */
export async function runCli(argv: readonly string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const program = new Command('dr')
    .description('dr-bot break-glass CLI: the /dr commands without Slack')
    .argument('[command...]', 'a /dr command, e.g. status, help, history 20 --verify')
    .option('--json', 'print the result as JSON')
    .allowUnknownOption(true)
    .helpOption('-h, --hidden-help', 'commander help')
    .exitOverride();
  program.parse(argv, { from: 'user' });
  const json = Boolean(program.opts<{ json?: boolean }>().json);
  const words = program.args.filter((word) => word !== '--json');

  const write = (text: string) => out.write(text);
  let deps;
  try {
    const config = loadConfig();
    deps = await composeDeps(config, createLogger(process.env.LOG_LEVEL ?? 'warn'));
  } catch (error) {
    const drError = toDrError(error);
    write(json ? `${JSON.stringify({ error: { code: drError.code, message: drError.userMessage } })}\n` : renderError(drError));
    return 2;
  }
  try {
    const { result } = await executeCommand(deps, { source: 'cli', actor: userInfo().username, channel: 'terminal', text: words.join(' ') });
    if (result instanceof DrError) {
      write(json ? `${JSON.stringify({ error: { code: result.code, message: result.userMessage, hint: result.hint } })}\n` : renderError(result));
      return 2;
    }
    write(json ? `${JSON.stringify(result, null, 2)}\n` : renderOutcome(result));
    return exitCodeOf(result);
  } finally {
    await deps.store.close();
  }
}
