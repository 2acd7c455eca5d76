// The bot as its own process (`node dist/main.js`, what `npm start` runs), as it runs in production: for tests that
// need its environment at start-up (NODE_EXTRA_CA_CERTS) or that kill it with SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { TEST_SIGNING_SECRET } from './bot.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** A running bot process. */
export interface BotProcess {
  url: string;
  child: ChildProcess;
  /** Its log lines (JSON, parsed) so far. */
  logs: Array<Record<string, unknown>>;
  /** SIGKILL: no shutdown of any kind, as a crash. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
}

/** Starts the bot with `env` (on top of PATH and HOME) and waits for "dr-bot listening". */
export async function startBotProcess(env: Record<string, string>, cwd: string): Promise<BotProcess> {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/main.js')], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', SLACK_BOT_TOKEN: 'xoxb-test-token', SLACK_SIGNING_SECRET: TEST_SIGNING_SECRET, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  let text = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bot did not start within 30 s:\n${text.slice(-4000)}`)), 30_000);
    const onLine = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const lines = text.split('\n');
      text = lines.pop() ?? '';
      for (const line of lines) {
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.msg === 'dr-bot listening') {
            clearTimeout(timer);
            resolve(`http://127.0.0.1:${String(entry.port)}`);
          }
        } catch {
          text += `${line}\n`;
        }
      }
    };
    child.stdout!.on('data', onLine);
    child.stderr!.on('data', onLine);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bot exited with ${code} before listening:\n${text.slice(-4000)}`));
    });
  });
  return {
    url,
    child,
    logs,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
