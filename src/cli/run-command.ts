import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { executeCommand, type DispatchDeps } from '../commands/dispatch.ts';
import { composeDeps } from '../compose.ts';
import { loadConfig, type Config } from '../config/load.ts';
import { DrError, errorText, toDrError } from '../domain/errors.ts';
import { createFileLogger, createLogger } from '../observability/logger.ts';
import { confirmAndRunOnTerminal } from './gate-flow.ts';
import { done, fail, internalError, warn, type CliStreams, type RunOptions } from './output.ts';
import { progressPrinter } from './progress.ts';
import { auditSummary, exitCodeOf, renderOutcome } from './render.ts';

/** Loads the configuration and state, runs one /dr command and prints its outcome; resolves to the exit code. */
export async function runConfigured(words: string[], options: RunOptions, io: CliStreams): Promise<number> {
  const { json } = options;
  if (!process.env.DR_CONFIG && !existsSync('dr.yml')) {
    warn(io, `no dr.yml in ${process.cwd()} and DR_CONFIG is unset: running on built-in defaults (copy dr.example.yml to dr.yml, or set DR_CONFIG / --config)`);
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    return fail(io, json, toDrError(error));
  }
  const locationProblem = stateLocationProblem(config.env.state);
  if (locationProblem) return fail(io, json, locationProblem);
  const freshStore = !/^postgres/.test(config.env.state) && !existsSync(config.env.state);

  const log = cliLogger(config);
  let deps: DispatchDeps;
  try {
    deps = await composeDeps(config, log.logger, { tolerateStateFailure: true });
  } catch (error) {
    return fail(io, json, toDrError(error));
  }
  try {
    if (freshStore) warn(io, `no state store at ${config.env.state}: started a new, empty one (if the bot runs elsewhere, point DR_STATE at its state; \`dr backups --rebuild\` reads the catalog back from the repository)`);
    const stateProblem = await deps.store.ping().then(() => undefined, (error: unknown) => errorText(error));
    if (stateProblem) warn(io, `${stateProblem}; this command runs but is not recorded in the audit log`);
    const who = { source: 'cli' as const, actor: options.actor, channel: 'terminal' };
    const progress = progressPrinter(io.err);
    const { result } = await executeCommand(deps, { ...who, text: words.join(' '), progress: progress.update });
    progress.end();
    if (result instanceof DrError) {
      if (result.code === 'INTERNAL') {
        log.logger.error({ err: result.cause, command: words[0] }, 'command failed');
        return fail(io, json, internalError(result, log.detailAt));
      }
      return fail(io, json, result);
    }
    if (result.kind === 'plan') {
      if (!json) io.out.write(renderOutcome(result));
      const config = deps.config;
      const ended = await confirmAndRunOnTerminal(deps, result.gate, who, {
        confirmName: options.confirmName,
        breakGlass: options.breakGlass,
        json,
        input: process.stdin,
        out: io.out,
        err: io.err,
        announce: async (text) => {
          io.err.write(`dr: ${text}\n`);
          const { announceInSlack } = await import('../slack/announce.ts');
          await announceInSlack(config, text);
        },
      });
      if (json) io.out.write(`${JSON.stringify({ ...result, ...ended.document }, null, 2)}\n`);
      return ended.code;
    }
    if (result.kind === 'audit' && !json) io.err.write(auditSummary(result));
    return done(io, json, result, renderOutcome(result), exitCodeOf(result));
  } finally {
    await deps.store.close();
    log.close();
  }
}

/**
 * The CLI's log: at LOG_LEVEL (set) on stderr as JSON lines; otherwise a file beside the state store
 * (or in the temp folder for a PostgreSQL state), so an internal error can say where its detail went.
 */
function cliLogger(config: Config): { logger: Logger; detailAt: string; close: () => void } {
  if (process.env.LOG_LEVEL) return { logger: createLogger(config.env.logLevel), detailAt: 'the log lines above (stderr)', close: () => {} };
  const folder = /^postgres/.test(config.env.state) ? os.tmpdir() : path.dirname(config.env.state);
  const file = path.join(folder, 'dr-cli.log');
  const { logger, close } = createFileLogger('info', file);
  return { logger, detailAt: file, close };
}

/** The state store's folder must exist: a mistyped DR_STATE must fail, not start an empty store somewhere new. */
export function stateLocationProblem(state: string): DrError | undefined {
  if (/^postgres(ql)?:\/\//.test(state)) return undefined;
  const folder = path.dirname(state);
  if (existsSync(folder)) return undefined;
  return new DrError(
    'STATE_UNAVAILABLE',
    `The state folder ${folder} does not exist, so there is no state store at ${state}; nothing was created. Point DR_STATE at the bot's state (a SQLite file or a postgres:// URL), or create the folder to start an empty store.`,
  );
}
