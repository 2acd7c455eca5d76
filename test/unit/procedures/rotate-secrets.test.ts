import { lstat, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import dotenv from 'dotenv';
import { parseCommand } from '../../../src/commands/parse.ts';
import { fingerprint } from '../../../src/config/secret.ts';
import type { DmsEndpoints, HealthFacts } from '../../../src/ports/dms.ts';
import type { ServiceCommandResult, ServiceControl } from '../../../src/ports/service.ts';
import type { StateStore } from '../../../src/ports/state-store.ts';
import { executeRun } from '../../../src/procedures/engine.ts';
import { chooseKeys, planRotateSecrets, rotateSecretsRun, type RotateSecretsDeps } from '../../../src/procedures/rotate-secrets.ts';
import { captureLogs } from '../../helpers/logs.ts';
import { thrownDrError } from '../../helpers/refusal.ts';
import { useTempStateStore } from '../../helpers/temp-store.ts';

const KEYS = ['SECRET_KEY', 'ENCRYPTION_KEY'];
const OLD_SECRET = 'b2xkLXNlY3JldC1rZXktdmFsdWUtMDAwMDAwMDAwMDA=';
const OLD_ENC = 'b2xkLWVuY3J5cHRpb24ta2V5LXZhbHVlLTExMTExMTE=';
const ENV = ['# DMS settings', `SECRET_KEY=${OLD_SECRET}`, '', `export ENCRYPTION_KEY="${OLD_ENC}"  # AES`, 'DATABASE_URL=sqlite:/data/alphha.db', ''].join('\r\n');

describe('which keys a rotation may touch', () => {
  it('defaults to every configured key and drops duplicates', () => {
    expect(chooseKeys([], KEYS)).toEqual(KEYS);
    expect(chooseKeys(['ENCRYPTION_KEY', 'ENCRYPTION_KEY'], KEYS)).toEqual(['ENCRYPTION_KEY']);
  });

  it.each(['../../etc/passwd', 'A=B', 'secret_key', '$(reboot)'])('refuses %j as not a key name, naming the allowed keys', (word) => {
    const error = thrownDrError(() => chooseKeys([word], KEYS));
    expect(error.code).toBe('COMMAND_MALFORMED');
    expect(error.userMessage).toContain('is not a key name');
    expect(error.userMessage).toContain('SECRET_KEY, ENCRYPTION_KEY');
    expect(error.userMessage).toContain('Nothing was run.');
  });

  it('refuses a key that is not in secrets.keys, with the closest one as a hint', () => {
    const error = thrownDrError(() => chooseKeys(['SECRET_KY'], KEYS));
    expect(error.userMessage).toContain('SECRET_KY is not in secrets.keys');
    expect(error.hint).toBe('rotate-secrets SECRET_KEY');
    expect(thrownDrError(() => chooseKeys(['DATABASE_URL'], KEYS)).code).toBe('COMMAND_MALFORMED');
  });

  it('refuses at parse time when the config is known, and checks the shape without it', () => {
    const context = { config: { secrets: { keys: KEYS } } };
    expect(parseCommand('rotate-secrets', context).args).toEqual([]);
    expect(parseCommand('rotate-secrets SECRET_KEY SECRET_KEY', context).args).toEqual(['SECRET_KEY']);
    expect(() => parseCommand('rotate-secrets NOT_CONFIGURED_KEY', context)).toThrow(/not in secrets.keys/);
    expect(() => parseCommand('rotate-secrets ../../etc/passwd', context)).toThrow(/not a key name.*SECRET_KEY, ENCRYPTION_KEY/);
    expect(() => parseCommand('rotate-secrets A=B')).toThrow(/not a key name/);
  });
});

describe('rotate-secrets plan and run', () => {
  const temp = useTempStateStore('dr-rotate');
  let dir: string;
  let envFile: string;
  let store: StateStore;
  let healthy: boolean;
  let serviceCalls: string[];
  beforeEach(async () => {
    ({ dir, store } = temp);
    envFile = path.join(dir, '.env');
    await writeFile(envFile, ENV, { mode: 0o600 });
    healthy = true;
    serviceCalls = [];
  });

  // A service whose start prints a secret it loaded, as a careless start script might.
  const service: ServiceControl = {
    run: async (action) => {
      serviceCalls.push(action);
      const output = action === 'start' ? `starting\nloaded ENCRYPTION_KEY=${dotenv.parse(await readFile(envFile, 'utf8')).ENCRYPTION_KEY}` : 'stopped';
      return { command: action, exitCode: 0, timedOut: false, ms: 5, output } satisfies ServiceCommandResult;
    },
    runCommand: async () => ({ command: '', exitCode: 0, timedOut: false, ms: 0, output: '' }),
    runToFile: async () => ({ command: '', exitCode: 0, timedOut: false, ms: 0, output: '' }),
  };
  const endpoints = {
    health: async (): Promise<HealthFacts> => (healthy ? { httpStatus: 200, status: 'healthy', components: {} } : { httpStatus: 503, status: 'unhealthy', components: { database: { status: 'unhealthy' } } }),
  } as unknown as DmsEndpoints;
  const deps = (): RotateSecretsDeps => ({ store, service, endpoints, secrets: { envFile, keys: KEYS, keepPrevious: true }, healthDeadlineMs: 1_500, now: () => new Date() });
  const engine = () => ({ store, now: () => new Date(), owner: 'test', logger: captureLogs('silent').logger });

  it('plans with the current fingerprints only, and refuses a key the file lacks', async () => {
    const plan = await planRotateSecrets(deps(), []);
    expect(plan.input).toMatchObject({ keys: 'SECRET_KEY,ENCRYPTION_KEY', current: `SECRET_KEY ${fingerprint(OLD_SECRET)},ENCRYPTION_KEY ${fingerprint(OLD_ENC)}` });
    expect(plan.notes.join(' ')).toContain(fingerprint(OLD_SECRET));
    expect(JSON.stringify(plan)).not.toContain(OLD_SECRET);
    expect(JSON.stringify(plan)).not.toContain(OLD_ENC);
    await writeFile(envFile, `SECRET_KEY=${OLD_SECRET}\n`);
    await expect(planRotateSecrets(deps(), ['ENCRYPTION_KEY'])).rejects.toThrow(/ENCRYPTION_KEY is not set in .*Nothing was run/);
  });

  it('rotates: new values, old ones kept, CRLF and comments kept, 0600 file and backup, service restarted, values never shown', async () => {
    const plan = await planRotateSecrets(deps(), []);
    const run = await executeRun(engine(), rotateSecretsRun(deps(), plan, { actor: 'U1' }));
    expect(run.status).toBe('succeeded');
    expect(serviceCalls).toEqual(['stop', 'start']);
    const after = await readFile(envFile, 'utf8');
    const values = dotenv.parse(after);
    expect(values.SECRET_KEY).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(values.ENCRYPTION_KEY!, 'base64')).toHaveLength(32);
    expect(values.SECRET_KEY).not.toBe(OLD_SECRET);
    expect(values).toMatchObject({ SECRET_KEY_PREVIOUS: OLD_SECRET, ENCRYPTION_KEY_PREVIOUS: OLD_ENC, DATABASE_URL: 'sqlite:/data/alphha.db' });
    expect(after).toBe(ENV.replace(OLD_SECRET, `${values.SECRET_KEY}\r\nSECRET_KEY_PREVIOUS=${OLD_SECRET}`).replace(`"${OLD_ENC}"  # AES`, `"${values.ENCRYPTION_KEY}"  # AES\r\nexport ENCRYPTION_KEY_PREVIOUS="${OLD_ENC}"`));
    expect((await lstat(envFile)).mode & 0o777).toBe(0o600);
    const backup = run.summary.envBackup as string;
    expect(await readFile(backup, 'utf8')).toBe(ENV);
    expect((await lstat(backup)).mode & 0o777).toBe(0o600);
    expect(run.summary.rotated).toEqual([
      { key: 'SECRET_KEY', from: fingerprint(OLD_SECRET), to: fingerprint(values.SECRET_KEY!) },
      { key: 'ENCRYPTION_KEY', from: fingerprint(OLD_ENC), to: fingerprint(values.ENCRYPTION_KEY!) },
    ]);
    // The start command printed a value: its detail shows the fingerprint in its place.
    const recorded = JSON.stringify(await store.getRun(run.id));
    for (const value of [OLD_SECRET, OLD_ENC, values.SECRET_KEY!, values.ENCRYPTION_KEY!]) expect(recorded).not.toContain(value);
    expect(run.steps[4]?.detail).toContain(`[secret ${fingerprint(values.ENCRYPTION_KEY!)}]`);
  });

  it('an unhealthy service after the write is reported, not rolled back, with the backup to copy back named', async () => {
    healthy = false;
    const plan = await planRotateSecrets(deps(), ['SECRET_KEY']);
    const run = await executeRun(engine(), rotateSecretsRun(deps(), plan, { actor: 'U1' }));
    expect(run.status).toBe('failed');
    expect(run.summary.failedStep).toBe('wait for the health check');
    const values = dotenv.parse(await readFile(envFile, 'utf8'));
    expect(values.SECRET_KEY).not.toBe(OLD_SECRET);
    expect(values.ENCRYPTION_KEY).toBe(OLD_ENC);
    expect((run.summary.recovery as string[]).join(' ')).toContain('HAS the new values');
    const backup = run.summary.envBackup as string;
    expect((run.summary.manual as string[]).join(' ')).toContain(`copy ${backup} over ${envFile}`);
    expect(await readFile(backup, 'utf8')).toBe(ENV);
  });

  it('a file changed since the plan stops the run before anything is written, and leaves no copy', async () => {
    const plan = await planRotateSecrets(deps(), []);
    const edited = ENV.replace(OLD_SECRET, 'ZWRpdGVkLWJ5LWhhbmQtMDAwMDAwMDAwMDAwMDAwMDA=');
    await writeFile(envFile, edited);
    const run = await executeRun(engine(), rotateSecretsRun(deps(), plan, { actor: 'U1' }));
    expect(run.status).toBe('failed');
    expect(run.summary.reason).toContain('changed since the plan was made');
    expect(run.summary.rotated).toBeUndefined();
    expect(await readFile(envFile, 'utf8')).toBe(edited);
    expect(serviceCalls).toEqual([]);
    expect(await readdir(dir)).toEqual(expect.not.arrayContaining([expect.stringMatching(/\.pre-|\.tmp$/)]));
  });
});
