// A careless service script: it prints its whole environment and the DMS's env file. Its last line is
// what a run step shows, so it reaches Slack, the run record, the audit detail, the log and the CLI.
// Nothing secret may be in any of them, and the bot's own variables must never reach the script at all.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import dotenv from 'dotenv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliCommand, type Sandbox } from '../../sandbox/sandbox.ts';
import { openStateStore } from '../../src/adapters/state/kysely-store.ts';
import { startTestBot, TEST_SIGNING_SECRET, type TestBot } from '../helpers/bot.ts';
import { dr } from '../helpers/cli.ts';
import { runThroughGate } from '../helpers/gates.ts';
import { sandboxEnv, tempSandbox } from '../helpers/sandbox.ts';

const OPERATOR = 'U0OPERATOR';
const APPROVER = 'U0APPROVER';
// The bot's own secrets, in its process environment as in production (service commands would inherit them).
const BOT_SECRETS = {
  SLACK_BOT_TOKEN: 'xoxb-test-token',
  SLACK_SIGNING_SECRET: TEST_SIGNING_SECRET,
  DR_BACKUP_KEY: 'service-secrets-backup-key-0123456789',
  DR_ALERT_TOKEN: 'service-secrets-alert-token-0123456789',
  PAGERDUTY_ROUTING_KEY: 'SERVICESECRETS000000000000000000',
};

describe('service commands that print their environment and the env file', () => {
  let sandbox: Sandbox;
  let t: TestBot;
  const envDump = (name: string) => path.join(sandbox.dir, `${name}-env.txt`);
  beforeAll(async () => {
    Object.assign(process.env, BOT_SECRETS);
    sandbox = await tempSandbox({ config: { slack: { roles: { operators: [OPERATOR], approvers: [APPROVER] } } } });
    // The dump of each command's environment goes to a file (for the test to read); what it prints
    // afterwards — every variable, the whole env file, the secret's own line last — is the step's output.
    const print = (name: string) => `env > ${envDump(name)}; env; cat ${sandbox.envFile}; grep '^SECRET_KEY=' ${sandbox.envFile}`;
    const config = await readFile(sandbox.configPath, 'utf8');
    const { parse, stringify } = await import('yaml');
    const parsed = parse(config) as { service: Record<string, unknown> };
    parsed.service.stop = `${cliCommand('stop', sandbox.dir)} && ${print('stop')}`;
    parsed.service.start = `${cliCommand('start', sandbox.dir)} && ${print('start')}`;
    const { writeFile } = await import('node:fs/promises');
    await writeFile(sandbox.configPath, stringify(parsed));
    await sandbox.startServer();
    // Paging stays off in the bot (no PagerDuty fake here); its key is still in the process environment.
    const { PAGERDUTY_ROUTING_KEY: _paging, ...botEnv } = BOT_SECRETS;
    t = await startTestBot({ configPath: sandbox.configPath, env: botEnv });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await sandbox?.destroy();
    for (const name of Object.keys(BOT_SECRETS)) delete process.env[name];
  });

  it('rotate-secrets through Slack and from the terminal: no secret in Slack, logs, runs, audit rows or CLI output', async () => {
    const before = dotenv.parse(await readFile(sandbox.envFile, 'utf8'));
    const run = await runThroughGate(t, 'rotate-secrets', { requester: OPERATOR, approver: APPROVER }, 'alphha-sandbox');
    expect(run.status).toBe('succeeded');
    // The script did run and print: its last line is in the step, with the value redacted.
    const start = run.steps.find((step) => step.name === 'start the service on the new values')!;
    expect(start.detail).toContain('SECRET_KEY=[redacted SECRET_KEY]');

    const cli = await dr(['rotate-secrets', 'ENCRYPTION_KEY', '--confirm', 'alphha-sandbox', '--break-glass'], { ...sandboxEnv(sandbox), ...BOT_SECRETS, PAGERDUTY_ROUTING_KEY: '', DR_STATE: path.join(sandbox.dir, 'cli-state.db'), SLACK_API_URL: t.slack.apiUrl }, { timeoutMs: 120_000 });
    expect(cli.code).toBe(0);
    expect(cli.stderr + cli.stdout).toContain('[redacted SECRET_KEY]');

    // The bot's own variables never reached the script: only service.env and what sh adds.
    for (const name of ['stop', 'start']) {
      const names = (await readFile(envDump(name), 'utf8')).split('\n').filter(Boolean).map((line) => line.split('=')[0]!);
      expect(names).toContain('PATH');
      expect(names.filter((n) => /^(SLACK_|DR_|PAGERDUTY_)/.test(n))).toEqual([]);
    }

    const after = dotenv.parse(await readFile(sandbox.envFile, 'utf8'));
    const secrets = [
      ...Object.values(BOT_SECRETS),
      ...['SECRET_KEY', 'ENCRYPTION_KEY', 'SECRET_KEY_PREVIOUS', 'ENCRYPTION_KEY_PREVIOUS'].flatMap((key) => [before[key], after[key]]).filter((v): v is string => Boolean(v)),
    ];
    expect(new Set(secrets).size).toBeGreaterThanOrEqual(Object.keys(BOT_SECRETS).length + 4);
    const cliStore = await openStateStore(path.join(sandbox.dir, 'cli-state.db'));
    try {
      const places: Array<[string, string]> = [
        // What was said to Slack (the bot token authenticates each call; that is its job, not a leak).
        ['Slack calls', JSON.stringify(t.slack.calls.map((call) => ({ method: call.method, body: { ...call.body, token: undefined }, bytes: call.bytes?.toString('utf8') })))],
        ['bot log', JSON.stringify(t.logs)],
        ['runs', JSON.stringify(await t.bot.deps.store.listRuns({ limit: 1_000 }))],
        ['audit rows', JSON.stringify(await t.bot.deps.store.listAudit())],
        ['CLI runs', JSON.stringify(await cliStore.listRuns({ limit: 1_000 }))],
        ['CLI audit rows', JSON.stringify(await cliStore.listAudit())],
        ['CLI output', cli.stdout + cli.stderr],
      ];
      for (const [where, text] of places) {
        for (const value of secrets) if (text.includes(value)) throw new Error(`a secret value (${value.slice(0, 4)}…) appears in ${where}`);
      }
    } finally {
      await cliStore.close();
    }
  }, 180_000);
});
