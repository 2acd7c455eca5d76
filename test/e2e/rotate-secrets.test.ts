import { createHash } from 'node:crypto';
import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import dotenv from 'dotenv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { openStateStore } from '../../src/adapters/state/kysely-store.ts';
import { FINGERPRINT_KEY } from '../../src/compose.ts';
import { fingerprint, useFingerprintKey } from '../../src/config/secret.ts';
import type { StateStore } from '../../src/ports/state-store.ts';
import { startSlackFake, type SlackFake } from '../fakes/slack-api.ts';
import { pagingInto, startTestBot, type TestBot } from '../helpers/bot.ts';
import { startPagerDutyFake, type PagerDutyFake } from '../fakes/pagerduty-fake.ts';
import { dr } from '../helpers/cli.ts';
import { runThroughGate } from '../helpers/gates.ts';
import { sandboxEnv, tempSandbox } from '../helpers/sandbox.ts';

const OPERATOR = 'U0OPERATOR';
const APPROVER = 'U0APPROVER';
const KEYS = ['SECRET_KEY', 'ENCRYPTION_KEY'] as const;

// The sandbox DMS shows the secrets it loaded as a bare SHA-256 prefix: its own way, not dr-bot's keyed one.
const dmsFingerprint = (value: string): string => createHash('sha256').update(value).digest('hex').slice(0, 8);

/** What the sandbox server answers now: the pid that answered, its health, and the fingerprints of the secrets it loaded. */
async function sandboxHealth(sandbox: Sandbox): Promise<{ pid: string | null; status: string; secrets: Record<string, string> }> {
  const response = await fetch(sandbox.healthUrl);
  const body = (await response.json()) as { status: string; secrets: Record<string, string> };
  return { pid: response.headers.get('x-sandbox-pid'), status: body.status, secrets: body.secrets };
}

/** Every place a secret could leak to, as text: where the test looks for the values. */
async function everythingShown(store: StateStore, extra: string[]): Promise<Array<[string, string]>> {
  const places: Array<[string, string]> = [
    ['audit rows', JSON.stringify(await store.listAudit({ limit: 10_000 }))],
    ['run rows', JSON.stringify(await store.listRuns({ limit: 1_000 }))],
    ['open gates', JSON.stringify(await store.listOpenGates())],
  ];
  for (const run of await store.listRuns({ limit: 1_000 })) if (run.gateId) places.push([`gate ${run.gateId}`, JSON.stringify(await store.getGate(run.gateId))]);
  return [...places, ...extra.map((text, i): [string, string] => [`extra ${i}`, text])];
}

function expectNoSecret(places: Array<[string, string]>, values: readonly string[]): void {
  expect(values.every((value) => value.length >= 40)).toBe(true);
  for (const [where, text] of places) {
    for (const value of values) {
      if (text.includes(value)) throw new Error(`a secret value appears in ${where}`);
    }
  }
}

describe('/dr rotate-secrets through Slack', () => {
  let sandbox: Sandbox;
  let t: TestBot;
  let pagerduty: PagerDutyFake;
  beforeAll(async () => {
    sandbox = await tempSandbox({ config: { slack: { roles: { operators: [OPERATOR], approvers: [APPROVER] } } } });
    await sandbox.startServer();
    // Paging is on, so anything the rotation raised would reach the PagerDuty fake — and be scanned too.
    pagerduty = await startPagerDutyFake();
    t = await startTestBot({ configPath: sandbox.configPath, ...pagingInto(pagerduty) });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await pagerduty?.close();
    await sandbox?.destroy();
  });

  it('refuses bad keys in the ack, naming the allowed ones, and changes nothing', async () => {
    const before = await readFile(sandbox.envFile);
    const cases: Array<[string, string]> = [
      ['rotate-secrets ../../etc/passwd', 'is not a key name'],
      ['rotate-secrets A=B', 'is not a key name'],
      ['rotate-secrets NOT_CONFIGURED_KEY', 'NOT_CONFIGURED_KEY is not in secrets.keys'],
    ];
    for (const [text, reason] of cases) {
      const ack = await t.command(text, { user: OPERATOR });
      expect(ack.status).toBe(200);
      const answer = JSON.parse(ack.body) as { response_type: string; text: string };
      expect(answer.response_type).toBe('ephemeral');
      expect(answer.text).toContain(reason);
      expect(answer.text).toContain('SECRET_KEY, ENCRYPTION_KEY');
      expect(answer.text).toContain('Nothing was run.');
    }
    expect(await t.bot.deps.store.listOpenGates()).toEqual([]);
    expect((await readFile(sandbox.envFile)).equals(before)).toBe(true);
  });

  it('rotates every key behind the gate: new values in .env, old ones kept, 0600, restarted and healthy — and no value shown anywhere', async () => {
    const oldValues = dotenv.parse(await readFile(sandbox.envFile, 'utf8'));
    const before = await sandboxHealth(sandbox);
    expect(before.secrets.SECRET_KEY).toBe(dmsFingerprint(oldValues.SECRET_KEY!));

    const run = await runThroughGate(t, 'rotate-secrets', { requester: OPERATOR, approver: APPROVER }, 'alphha-sandbox');
    expect(run.status).toBe('succeeded');

    const newValues = dotenv.parse(await readFile(sandbox.envFile, 'utf8'));
    for (const key of KEYS) {
      expect(newValues[key]).toMatch(/^[A-Za-z0-9+/]{43}=$/);
      expect(newValues[key]).not.toBe(oldValues[key]);
      expect(newValues[`${key}_PREVIOUS`]).toBe(oldValues[key]);
    }
    expect(newValues.DATABASE_URL).toBe(oldValues.DATABASE_URL);
    expect((await lstat(sandbox.envFile)).mode & 0o777).toBe(0o600);
    const backup = run.summary.envBackup as string;
    expect(path.dirname(backup)).toBe(path.dirname(sandbox.envFile));
    expect((await lstat(backup)).mode & 0o777).toBe(0o600);
    expect(dotenv.parse(await readFile(backup, 'utf8'))).toEqual(oldValues);

    // Restarted (another process answers) and running on the new values, as its health answer proves.
    const after = await sandboxHealth(sandbox);
    expect(after.pid).not.toBe(before.pid);
    expect(after.status).toBe('healthy');
    expect(after.secrets).toEqual({ SECRET_KEY: dmsFingerprint(newValues.SECRET_KEY!), ENCRYPTION_KEY: dmsFingerprint(newValues.ENCRYPTION_KEY!) });

    // The summary message shows old → new fingerprints.
    const summary = t.slack.calls.filter((c) => JSON.stringify(c.body).includes(run.id) && JSON.stringify(c.body).includes('Rotated (fingerprints')).at(-1);
    expect(summary).toBeDefined();
    for (const key of KEYS) expect(JSON.stringify(summary!.body)).toContain(`${key} ${fingerprint(oldValues[key]!)} → ${fingerprint(newValues[key]!)}`);

    // The secret scan: no old or new value in anything Slack got, the logs, the audit, runs or gates.
    const values = KEYS.flatMap((key) => [oldValues[key]!, newValues[key]!]);
    const places = await everythingShown(t.bot.deps.store, [
      ...t.slack.calls.map((call) => JSON.stringify(call)),
      ...pagerduty.events.map((event) => JSON.stringify(event)),
      ...t.logs.map((line) => JSON.stringify(line)),
      await readFile(sandbox.manifest.logFile, 'utf8'),
    ]);
    expectNoSecret(places, values);
  }, 120_000);
});

describe('dr rotate-secrets from a terminal', () => {
  let sandbox: Sandbox;
  let slack: SlackFake;
  let env: Record<string, string>;
  beforeAll(async () => {
    sandbox = await tempSandbox();
    await sandbox.startServer();
    slack = await startSlackFake();
    env = { ...sandboxEnv(sandbox), SLACK_BOT_TOKEN: 'xoxb-test-token', SLACK_API_URL: slack.apiUrl };
  }, 60_000);
  afterAll(async () => {
    await slack?.close();
    await sandbox?.destroy();
  });

  it('refuses a bad key and changes nothing', async () => {
    const before = await readFile(sandbox.envFile);
    const result = await dr(['rotate-secrets', 'A=B', '--confirm', 'alphha-sandbox', '--break-glass'], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('is not a key name');
    expect(result.stderr).toContain('SECRET_KEY, ENCRYPTION_KEY');
    expect((await readFile(sandbox.envFile)).equals(before)).toBe(true);
  });

  it('rotates one key with --break-glass and prints only fingerprints', async () => {
    const oldValues = dotenv.parse(await readFile(sandbox.envFile, 'utf8'));
    const result = await dr(['rotate-secrets', 'SECRET_KEY', '--confirm', 'alphha-sandbox', '--break-glass'], env);
    expect(result.stderr).toContain('BREAK-GLASS');
    expect(result.code).toBe(0);
    const newValues = dotenv.parse(await readFile(sandbox.envFile, 'utf8'));
    expect(newValues.SECRET_KEY).not.toBe(oldValues.SECRET_KEY);
    expect(newValues.SECRET_KEY_PREVIOUS).toBe(oldValues.SECRET_KEY);
    expect(newValues.ENCRYPTION_KEY).toBe(oldValues.ENCRYPTION_KEY);
    expect(newValues.ENCRYPTION_KEY_PREVIOUS).toBeUndefined();
    expect((await sandboxHealth(sandbox)).secrets.SECRET_KEY).toBe(dmsFingerprint(newValues.SECRET_KEY!));

    const store = await openStateStore(env.DR_STATE!);
    try {
      // The CLI's fingerprints are keyed by the installation key in its state store: this process takes the same.
      useFingerprintKey(await store.installationKey(FINGERPRINT_KEY));
      expect(result.stdout).toContain(`SECRET_KEY ${fingerprint(oldValues.SECRET_KEY!)} → ${fingerprint(newValues.SECRET_KEY!)}`);
      expect(result.stdout).not.toContain(dmsFingerprint(oldValues.SECRET_KEY!));
      expect((await store.listAudit()).map((e) => e.outcome)).toEqual(expect.arrayContaining(['plan_proposed', 'break_glass', 'run_started', 'run_succeeded']));
      const places = await everythingShown(store, [result.stdout, result.stderr, ...slack.calls.map((call) => JSON.stringify(call))]);
      expectNoSecret(places, [oldValues.SECRET_KEY!, newValues.SECRET_KEY!, oldValues.ENCRYPTION_KEY!]);
    } finally {
      await store.close();
    }
  }, 90_000);
});
