import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KnownSecrets } from '../../../src/adapters/config/known-secrets.ts';
import { ShellServiceControl } from '../../../src/adapters/service/shell-service.ts';

const BOT_ENV = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: '/home/dr-bot',
  LANG: 'C.UTF-8',
  SLACK_BOT_TOKEN: 'xoxb-bot-token-0123456789',
  SLACK_SIGNING_SECRET: 'signing-secret-abcdef012345',
  DR_BACKUP_KEY: 'backup-key-passphrase-42',
  DR_ALERT_TOKEN: 'alert-token-zyxwvu98765',
  PAGERDUTY_ROUTING_KEY: 'R0UTINGKEY0000000000000000000000',
  AWS_SECRET_ACCESS_KEY: 'aws-secret-not-in-service-env',
};

describe('service commands: a clean environment and redacted output', () => {
  let dir: string;
  let envFile: string;
  const SECRET_KEY = 'c2VjcmV0LWtleS12YWx1ZS0wMTIzNDU2Nzg5YWJjZGVm';
  const PREVIOUS = 'b2xkLXNlY3JldC1rZXktdmFsdWUtOTg3NjU0MzIx';
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dr-shell-'));
    envFile = path.join(dir, '.env');
    await writeFile(envFile, `SECRET_KEY=${SECRET_KEY}\nSECRET_KEY_PREVIOUS="${PREVIOUS}"\nDEBUG=1\n`, { mode: 0o600 });
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  const control = (env: readonly string[] = ['PATH', 'HOME', 'LANG']) => {
    const secrets = new KnownSecrets({ SLACK_BOT_TOKEN: BOT_ENV.SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET: BOT_ENV.SLACK_SIGNING_SECRET, DR_BACKUP_KEY: BOT_ENV.DR_BACKUP_KEY, DR_ALERT_TOKEN: BOT_ENV.DR_ALERT_TOKEN, PAGERDUTY_ROUTING_KEY: BOT_ENV.PAGERDUTY_ROUTING_KEY }, envFile);
    const commands = { stop: 'env', start: `env; cat ${envFile}; echo "token=$SLACK_BOT_TOKEN"`, migrate: 'FOO=set-by-the-command-line sh -c "echo FOO=\\$FOO"', logs: 'true' };
    return new ShellServiceControl(commands, 10_000, dir, { env, redact: (text) => secrets.redact(text), from: BOT_ENV });
  };

  it('passes on only the names in service.env', async () => {
    const { output, exitCode } = await control().run('stop');
    expect(exitCode).toBe(0);
    const names = output.split('\n').map((line) => line.split('=')[0]!);
    expect(names).toEqual(expect.arrayContaining(['PATH', 'HOME', 'LANG']));
    // What /bin/sh adds by itself (PWD, SHLVL, _) is all there is besides.
    expect(names.filter((name) => !['PATH', 'HOME', 'LANG', 'PWD', 'SHLVL', '_', 'OLDPWD'].includes(name))).toEqual([]);
    expect(output).toContain('HOME=/home/dr-bot');
  });

  it('a variable not listed is not passed even when the bot has it; the command line may set its own', async () => {
    const without = await control(['PATH']).run('stop');
    expect(without.output).not.toContain('HOME=');
    expect(without.output).not.toContain('AWS_SECRET_ACCESS_KEY');
    const migrate = await control().run('migrate');
    expect(migrate.output).toBe('FOO=set-by-the-command-line');
  });

  it('redacts the bot’s own secrets and every env-file value (with its _PREVIOUS copy) from the output', async () => {
    const { output } = await control(['PATH', 'HOME', 'LANG']).run('start');
    for (const value of [SECRET_KEY, PREVIOUS, BOT_ENV.SLACK_BOT_TOKEN]) expect(output).not.toContain(value);
    expect(output).toContain('SECRET_KEY=[redacted SECRET_KEY]');
    expect(output).toContain('SECRET_KEY_PREVIOUS="[redacted SECRET_KEY_PREVIOUS]"');
    // Short settings are not secrets; they stay readable.
    expect(output).toContain('DEBUG=1');
    // $SLACK_BOT_TOKEN is empty in the command's environment.
    expect(output).toMatch(/token=$/m);
  });

  it('a value printed by a command that echoes a variable it was given on purpose is still redacted', async () => {
    const secrets = new KnownSecrets({ DR_BACKUP_KEY: BOT_ENV.DR_BACKUP_KEY }, envFile);
    const leaky = new ShellServiceControl({ stop: `echo ${BOT_ENV.DR_BACKUP_KEY}`, start: 'true', migrate: 'true', logs: 'true' }, 10_000, dir, { env: ['PATH'], redact: (text) => secrets.redact(text), from: BOT_ENV });
    expect((await leaky.run('stop')).output).toBe('[redacted DR_BACKUP_KEY]');
  });

  it('a value changed after a rotation stays known: old and new are both redacted', async () => {
    const secrets = new KnownSecrets({}, envFile);
    expect(secrets.redact(`x ${SECRET_KEY} y`)).toBe('x [redacted SECRET_KEY] y');
    await writeFile(envFile, 'SECRET_KEY=bmV3LXNlY3JldC1rZXktdmFsdWUtYWZ0ZXItcm90YXRpb24=\n');
    expect(secrets.redact(`${SECRET_KEY} bmV3LXNlY3JldC1rZXktdmFsdWUtYWZ0ZXItcm90YXRpb24=`)).toBe('[redacted SECRET_KEY] [redacted SECRET_KEY]');
  });

  it('a long output whose kept tail starts mid-line loses that line, not a half secret', async () => {
    const secrets = new KnownSecrets({}, envFile);
    // 40 KB of output, then lines holding the secret: the cut lands somewhere inside the filler.
    const command = `i=0; while [ $i -lt 1200 ]; do echo "filler line $i ${SECRET_KEY}"; i=$((i+1)); done`;
    const noisy = new ShellServiceControl({ stop: command, start: 'true', migrate: 'true', logs: 'true' }, 20_000, dir, { env: ['PATH'], redact: (text) => secrets.redact(text), from: BOT_ENV });
    const { output } = await noisy.run('stop');
    expect(output.length).toBeGreaterThan(1000);
    expect(output.split('\n')[0]).toMatch(/^filler line \d+ \[redacted SECRET_KEY\]$/);
    for (let cut = 4; cut < SECRET_KEY.length; cut += 4) expect(output).not.toContain(SECRET_KEY.slice(cut));
  });
});
