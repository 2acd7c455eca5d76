import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import type { ServiceCommandResult, ServiceControl } from '../../ports/service.ts';

// Enough to see why a command failed; a chatty `docker-compose logs` must not fill the state store.
const OUTPUT_TAIL_BYTES = 16 * 1024;
// After SIGTERM, how long a command's process group gets before SIGKILL.
const KILL_GRACE_MS = 5_000;

/** How service commands are run: the variables they inherit, and how their output is scrubbed. */
export interface ServiceCommandOptions {
  /** Names of the bot's environment variables passed on (`service.env`); nothing else is. */
  env: readonly string[];
  /** Scrubs known secret values from what a command printed, before anyone keeps or shows it. */
  redact: (text: string) => string;
  /** The environment to pick from (the bot's own by default). */
  from?: NodeJS.ProcessEnv;
}

/**
 * Runs the operator's configured service commands with `/bin/sh -c` (they are shell commands by design,
 * DESIGN.md §4, and come only from dr.yml — never from chat). Each runs in its own process group so a
 * timeout kills everything it started, and its output is captured for the run's record. A command sees
 * only the variables named in `service.env` (never the bot's tokens and keys), and its captured output is
 * redacted of every known secret value; the file copy (`runToFile`, evidence) is kept as printed.
 */
export class ShellServiceControl implements ServiceControl {
  private readonly env: NodeJS.ProcessEnv;

  constructor(
    private readonly commands: { stop: string; start: string; migrate: string; logs: string },
    private readonly timeoutMs: number,
    private readonly cwd: string | undefined,
    private readonly options: ServiceCommandOptions,
  ) {
    const from = options.from ?? process.env;
    this.env = Object.fromEntries(options.env.flatMap((name) => (from[name] === undefined ? [] : [[name, from[name]]])));
  }

  run(action: 'stop' | 'start' | 'migrate' | 'logs', signal?: AbortSignal): Promise<ServiceCommandResult> {
    return this.runCommand(this.commands[action], signal);
  }

  runToFile(action: 'logs', file: string, signal?: AbortSignal): Promise<ServiceCommandResult> {
    return this.runCommand(this.commands[action], signal, createWriteStream(file, { mode: 0o600 }));
  }

  runCommand(command: string, signal?: AbortSignal, copyTo?: NodeJS.WritableStream): Promise<ServiceCommandResult> {
    const started = Date.now();
    return new Promise((resolve) => {
      const child = spawn('/bin/sh', ['-c', command], { cwd: this.cwd, env: this.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = Buffer.alloc(0);
      let cut = false;
      const keep = (chunk: Buffer) => {
        copyTo?.write(chunk);
        output = Buffer.concat([output, chunk]);
        if (output.length > OUTPUT_TAIL_BYTES * 2) {
          output = output.subarray(output.length - OUTPUT_TAIL_BYTES);
          cut = true;
        }
      };
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      let timedOut = false;
      const killGroup = (sig: NodeJS.Signals) => {
        try {
          if (child.pid) process.kill(-child.pid, sig);
        } catch {
          // Already gone.
        }
      };
      const stop = () => {
        killGroup('SIGTERM');
        setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS).unref();
      };
      const timer = setTimeout(() => {
        timedOut = true;
        stop();
      }, this.timeoutMs);
      signal?.addEventListener('abort', stop, { once: true });
      const finish = (exitCode: number | null, extra = '') => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', stop);
        cut ||= output.length > OUTPUT_TAIL_BYTES;
        let tail = output.subarray(Math.max(0, output.length - OUTPUT_TAIL_BYTES)).toString('utf8');
        // A tail that starts mid-line may start mid-secret, where no whole value is left to redact: drop that line.
        if (cut) tail = tail.includes('\n') ? tail.slice(tail.indexOf('\n') + 1) : '';
        const result = { command, exitCode, timedOut, ms: Date.now() - started, output: this.options.redact((tail + extra).trimEnd()) };
        if (copyTo) copyTo.end(() => resolve(result));
        else resolve(result);
      };
      child.once('error', (error) => finish(null, `\n${error.message}`));
      child.once('close', (code) => finish(code));
    });
  }
}

