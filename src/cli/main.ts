import { userInfo } from 'node:os';
import { Command, CommanderError } from 'commander';
import { executeCommand } from '../commands/dispatch.ts';
import { composeDeps } from '../compose.ts';
import { loadConfig } from '../config/load.ts';
import { DrError, errorText, toDrError } from '../domain/errors.ts';
import { createLogger } from '../observability/logger.ts';
import { auditSummary, exitCodeOf, renderError, renderOutcome } from './render.ts';
import { confirmAndRunOnTerminal } from './gate-flow.ts';
import { announceInSlack } from '../slack/announce.ts';

/** `dr …` in a terminal: the same commands, parser and procedures as Slack, for when Slack is down. Resolves to the exit code. */
export async function runCli(argv: readonly string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const program = new Command('dr')
    .description('dr-bot break-glass CLI: the /dr commands without Slack')
    .argument('[command...]', 'a /dr command, e.g. status, help, history 20 --verify')
    .option('--json', 'print the result as JSON')
    .option('--confirm <name>', 'confirm a destructive plan by its system name instead of typing it')
    .option('--break-glass', 'skip the approvals of a destructive plan (audited and announced)')
    .allowUnknownOption(true)
    .helpOption(false)
    .exitOverride();
  let words: string[];
  let json: boolean;
  let options: { json?: boolean; confirm?: string; breakGlass?: boolean };
  try {
    program.parse(argv, { from: 'user' });
    options = program.opts();
    json = Boolean(options.json);
    words = program.args.filter((word) => word !== '--json');
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    out.write(renderError(new DrError('COMMAND_MALFORMED', error.message, { hint: 'help' }), false));
    return 2;
  }
  // `dr -h` and `dr --help` mean what they mean everywhere else.
  if (words.length === 1 && ['-h', '--help'].includes(words[0]!)) words = ['help'];

  let deps;
  try {
    // Logs stay quiet here: the terminal gets readable lines, not JSON.
    deps = await composeDeps(loadConfig(), createLogger(process.env.LOG_LEVEL ?? 'silent'), { tolerateStateFailure: true });
  } catch (error) {
    out.write(renderError(toDrError(error), json));
    return 2;
  }
  try {
    const stateProblem = await deps.store.ping().then(() => undefined, (error: unknown) => errorText(error));
    if (stateProblem) err.write(`dr: warning: ${stateProblem}; this command runs but is not recorded in the audit log\n`);
    const who = { source: 'cli' as const, actor: userInfo().username, channel: 'terminal' };
    const { result } = await executeCommand(deps, { ...who, text: words.join(' ') });
    if (result instanceof DrError) {
      out.write(renderError(result, json));
      return 2;
    }
    if (result.kind === 'plan') {
      out.write(json ? `${JSON.stringify(result, null, 2)}\n` : renderOutcome(result));
      const config = deps.config;
      return await confirmAndRunOnTerminal(deps, result.gate, who, {
        confirmName: options.confirm,
        breakGlass: Boolean(options.breakGlass),
        input: process.stdin,
        out,
        err,
        announce: async (text) => {
          err.write(`dr: ${text}\n`);
          await announceInSlack(config, text);
        },
      });
    }
    out.write(json ? `${JSON.stringify(result, null, 2)}\n` : renderOutcome(result));
    if (result.kind === 'audit' && !json) err.write(auditSummary(result));
    return exitCodeOf(result);
  } finally {
    await deps.store.close();
  }
}
