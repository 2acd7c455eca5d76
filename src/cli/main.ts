import { userInfo } from 'node:os';
import { Command, CommanderError } from 'commander';
import { DrError } from '../domain/errors.ts';
import { BOT_VERSION } from '../version.ts';
import { commandHelp, completionScript, helpText, isHelpRequest } from './help.ts';
import { done, fail, type CliStreams } from './output.ts';

/** Flags that belong to a /dr command itself (`history --verify`, `backups --rebuild`). */
const KNOWN_COMMAND_FLAGS = new Set(['--verify', '--rebuild']);

/** Flags the CLI itself takes; everything else belongs to the /dr command. */
interface GlobalOptions {
  json?: boolean;
  confirm?: string;
  breakGlass?: boolean;
  config?: string;
  version?: boolean;
}

/**
 * `dr …` in a terminal: the same commands, parser and procedures as Slack, for when Slack is down.
 * Resolves to the exit code: 0 ok, 1 done but something is wrong, 2 refused or failed, 3 waiting for approvals.
 */
export async function runCli(argv: readonly string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const io: CliStreams = { out, err };
  const program = new Command('dr')
    .argument('[command...]')
    .option('--json')
    .option('--confirm <name>')
    .option('--break-glass')
    .option('--config <path>')
    .option('-V, --version')
    .allowUnknownOption(true)
    .helpOption(false)
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} });
  let words: string[];
  let options: GlobalOptions;
  try {
    program.parse(argv, { from: 'user' });
    options = program.opts<GlobalOptions>();
    words = program.args;
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    const json = argv.includes('--json');
    return fail(io, json, new DrError('COMMAND_MALFORMED', `${error.message.replace(/^error: /, '')}. Nothing was run.`, { hint: 'help' }));
  }
  const json = Boolean(options.json);

  // Answers that need neither configuration nor state, so they work on any machine and cost nothing.
  if (options.version) return done(io, json, { version: BOT_VERSION }, `dr ${BOT_VERSION}\n`);
  if (words.length === 0 || (words.length === 1 && ['help', '-h', '--help'].includes(words[0]!))) return done(io, json, { help: helpText() }, helpText());
  if (words[0] === 'completion') {
    const script = completionScript(words[1]);
    if (script === undefined) return fail(io, json, new DrError('COMMAND_MALFORMED', '`completion` needs `bash` or `zsh`, e.g. `dr completion bash >> ~/.bashrc`. Nothing was run.'));
    io.out.write(script);
    return 0;
  }
  if (isHelpRequest(words)) {
    const help = commandHelp(words.filter((w) => !w.startsWith('-')));
    if (help instanceof DrError) return fail(io, json, help);
    return done(io, json, { help }, help);
  }
  const stray = words.find((w) => /^-/.test(w) && !KNOWN_COMMAND_FLAGS.has(w));
  if (stray) return fail(io, json, new DrError('COMMAND_MALFORMED', `Unknown option \`${stray.slice(0, 40)}\`. Nothing was run.`, { hint: 'help' }));

  if (options.config !== undefined) process.env.DR_CONFIG = options.config;
  const { runConfigured } = await import('./run-command.ts');
  return runConfigured(words, { json, confirmName: options.confirm, breakGlass: Boolean(options.breakGlass), actor: userInfo().username }, io);
}


