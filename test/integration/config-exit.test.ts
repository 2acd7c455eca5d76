// The real processes refuse to start on a bad configuration: `npm start` (dist/main.js) and `npx dr`
// (bin/dr.mjs) exit non-zero and name the key or the missing variable.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BAD_CONFIG = 'backups:\n  retention:\n    daily: seven\n';

const tmpDirs: string[] = [];
afterAll(() => {
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
});

/** A temp dir with dr.yml holding `yaml`, and an env pointing DR_CONFIG and DR_STATE there, without any Slack, PagerDuty or DR_* variable. */
function setup(yaml: string, extra: Record<string, string> = {}): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dr-config-exit-'));
  tmpDirs.push(dir);
  writeFileSync(path.join(dir, 'dr.yml'), yaml);
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(SLACK_|PAGERDUTY_|DR_)/.test(name) || ['PORT', 'HOST', 'LOG_LEVEL', 'NODE_OPTIONS'].includes(name)) continue;
    env[name] = value;
  }
  return { dir, env: { ...env, DR_CONFIG: path.join(dir, 'dr.yml'), DR_STATE: path.join(dir, 'state', 'dr-state.db'), PORT: '0', HOST: '127.0.0.1', ...extra } };
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 20_000): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const startBot = (env: NodeJS.ProcessEnv) => run(['dist/main.js'], env);

describe('npm start (dist/main.js)', () => {
  it('exits non-zero on an invalid dr.yml and names the key', async () => {
    const { env } = setup(BAD_CONFIG);
    const exit = await startBot(env);
    expect(exit.signal).toBeNull();
    expect(exit.code).not.toBe(0);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toContain('backups.retention.daily: expected a positive integer, got "seven"');
  });

  it('exits non-zero without SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET and names both', async () => {
    const { env } = setup('system:\n  name: test-dms\n');
    const exit = await startBot(env);
    expect(exit.code).not.toBe(0);
    expect(exit.stderr).toContain('SLACK_BOT_TOKEN');
    expect(exit.stderr).toContain('SLACK_SIGNING_SECRET');
  });

  it('names only the missing variable when the bot token is set, and never prints the token', async () => {
    const token = 'xoxb-0000-integration-secret-token';
    const { env } = setup('system:\n  name: test-dms\n', { SLACK_BOT_TOKEN: token });
    const exit = await startBot(env);
    expect(exit.code).not.toBe(0);
    expect(exit.stderr).toContain('SLACK_SIGNING_SECRET');
    expect(exit.stderr).not.toContain('SLACK_BOT_TOKEN');
    expect(exit.stdout + exit.stderr).not.toContain(token);
  });
});

describe('npx dr (bin/dr.mjs)', () => {
  it('`dr status` with an invalid dr.yml exits 2 and names the key on stderr', async () => {
    const { env } = setup(BAD_CONFIG);
    const exit = await run(['bin/dr.mjs', 'status'], env);
    expect(exit.code).toBe(2);
    expect(exit.stdout).toBe('');
    expect(exit.stderr).toContain('backups.retention.daily');
    expect(exit.stderr).toContain('expected a positive integer, got "seven"');
  });
});
