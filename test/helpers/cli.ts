import { execFile } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** What `dr …` did: its exit code (null when it was killed), output, how long it took, and whether the timeout killed it. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

/**
 * Runs `dr …` as a user would (bin/dr.mjs in a child process) and returns its exit code and output. A command
 * still running after `timeoutMs` is killed and reported as `timedOut` (a hang is a failure, not a wait).
 */
export function dr(args: string[], env: Record<string, string>, options: { timeoutMs?: number } = {}): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [path.join(ROOT, 'bin/dr.mjs'), ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, timeout: options.timeoutMs ?? 30_000, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const failure = error as (Error & { code?: unknown; killed?: boolean }) | null;
        const code = failure ? (typeof failure.code === 'number' ? failure.code : -1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr), ms: Date.now() - started, timedOut: Boolean(failure?.killed) || child.signalCode === 'SIGKILL' });
      },
    );
  });
}
