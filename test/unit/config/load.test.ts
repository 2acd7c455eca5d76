// loadConfig: defaults, dr.example.yml kept true, ${VAR} interpolation, error messages that name the key,
// path resolution, deep freezing and secrets that never print.
import { createHash } from 'node:crypto';
import { fingerprint } from '../../../src/config/secret.ts';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfig, type Config } from '../../../src/config/load.ts';
import { configFileSchema } from '../../../src/config/schema.ts';
import { Secret } from '../../../src/config/secret.ts';
import { DrError } from '../../../src/domain/errors.ts';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const EXAMPLE = path.join(REPO_ROOT, 'dr.example.yml');

const tmpDirs: string[] = [];
function tmpDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dr-config-test-'));
  tmpDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
});

type Env = Record<string, string>;

/** Writes `yaml` to a fresh temp dir's dr.yml and loads it through DR_CONFIG. */
function load(yaml: string, env: Env = {}): Config {
  const dir = tmpDir();
  const file = path.join(dir, 'dr.yml');
  writeFileSync(file, yaml);
  return loadConfig({ DR_CONFIG: file, ...env }, dir);
}

/** The loader's error, which must be CONFIG_INVALID. */
function failure(run: () => unknown): DrError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DrError);
    expect((error as DrError).code).toBe('CONFIG_INVALID');
    return error as DrError;
  }
  throw new Error('expected loadConfig to throw');
}

/** The problem lines of a failed load (without the heading and indentation). */
function problems(yaml: string, env: Env = {}): string[] {
  const error = failure(() => load(yaml, env));
  const [heading, ...lines] = error.userMessage.split('\n');
  expect(heading).toMatch(/^Invalid configuration/);
  return lines.map((line) => line.trim());
}

function withoutRuntime(config: Config): Record<string, unknown> {
  const { env: _env, baseDir: _baseDir, ...file } = config;
  return file;
}

/** Every leaf path (arrays count as leaves) of a plain object. */
function leafPaths(value: unknown, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [prefix];
  const entries = Object.entries(value);
  if (entries.length === 0) return [prefix];
  return entries.flatMap(([key, item]) => leafPaths(item, [...prefix, key]));
}

function has(object: unknown, keyPath: string[]): boolean {
  let current = object;
  for (const key of keyPath) {
    if (current === null || typeof current !== 'object' || !(key in current)) return false;
    current = (current as Record<string, unknown>)[key];
  }
  return true;
}

/** Every key path the schema knows, walking through defaults, optionals, unions and transforms. */
interface SchemaDef {
  type: string;
  shape?: Record<string, { _zod: { def: SchemaDef } }>;
  innerType?: { _zod: { def: SchemaDef } };
  options?: { _zod: { def: SchemaDef } }[];
  in?: { _zod: { def: SchemaDef } };
  out?: { _zod: { def: SchemaDef } };
}
function schemaPaths(def: SchemaDef, prefix: string[] = []): string[][] {
  switch (def.type) {
    case 'object':
      return Object.entries(def.shape ?? {}).flatMap(([key, child]) => schemaPaths(child._zod.def, [...prefix, key]));
    case 'default':
    case 'prefault':
    case 'optional':
      return schemaPaths(def.innerType!._zod.def, prefix);
    case 'pipe':
      // preprocess(fn, schema) is a pipe whose output side holds the shape.
      return def.out ? schemaPaths(def.out._zod.def, prefix) : [prefix];
    case 'union': {
      const seen = new Map<string, string[]>();
      for (const option of def.options ?? []) for (const p of schemaPaths(option._zod.def, prefix)) seen.set(p.join('.'), p);
      return [...seen.values()];
    }
    default:
      return [prefix];
  }
}

const SECRET_ENV: Env = {
  SLACK_BOT_TOKEN: 'xoxb-1111-2222-very-secret-bot-token',
  SLACK_SIGNING_SECRET: 'signing-secret-3333-abcdef',
  SLACK_APP_TOKEN: 'xapp-1-A0000-app-level-token-4444',
  PAGERDUTY_ROUTING_KEY: 'pd-routing-key-5555aaaabbbb',
  DR_ALERT_TOKEN: 'alert-bearer-token-6666',
  DR_BACKUP_KEY: 'backup-encryption-key-7777',
};
const sha8 = (value: string) => createHash('sha256').update(value).digest('hex').slice(0, 8);

describe('defaults', () => {
  it('loads every built-in default when there is no file', () => {
    const dir = tmpDir();
    const config = loadConfig({}, dir);
    expect(config.baseDir).toBe(dir);
    expect(config.env.configPath).toBeUndefined();
    expect(config.system).toEqual({
      name: 'alphha-dms',
      health_url: 'http://localhost:7001/api/v1/monitoring/health',
      metrics_url: 'http://localhost:7001/api/v1/monitoring/prometheus',
    });
    expect(config.database.url).toBe(`sqlite:${path.join(dir, 'data/alphha.db')}`);
    expect(config.storage).toEqual({ kind: 'local', path: path.join(dir, 'uploads') });
    expect(config.backups.repository).toBe(path.join(dir, 'backups'));
    expect(config.backups.config_paths).toEqual(
      ['.env', 'docker-compose.yml', 'backend/alembic', 'nginx'].map((p) => path.join(dir, p)),
    );
    expect(config.backups.schedule).toEqual({
      db: '0 * * * *',
      storage: '15 * * * *',
      config: '30 2 * * *',
      prune: '0 3 * * *',
      verify: '0 4 * * 0',
      drill: '0 5 1 * *',
    });
    expect(config.backups.retention).toEqual({ daily: 7, weekly: 4, monthly: 12 });
    expect(config.backups.timezone).toBe('UTC');
    expect(config.backups.region).toBeUndefined();
    expect(config.objectives).toEqual({ rto: 4 * 3_600_000, rpo: 3_600_000 });
    expect(config.secrets).toEqual({ env_file: path.join(dir, '.env'), keys: ['SECRET_KEY', 'ENCRYPTION_KEY'], keep_previous: true, evidence_dir: path.join(dir, 'evidence') });
    expect(config.service.stop).toBe('docker-compose down');
    expect(config.service.migrate).toBe('docker-compose exec -T backend alembic upgrade head');
    expect(config.service.isolate).toEqual(['ufw deny from any to any port 7000', 'ufw deny from any to any port 7001']);
    expect(config.service.timeout).toBe(5 * 60_000);
    expect(config.service.env).toEqual(['PATH', 'HOME', 'LANG']);
    expect(config.slack.channels.critical).toBe('#dr-critical');
    expect(config.slack.channels.security).toBe('#security-incidents');
    expect(config.slack.roles).toEqual({ operators: [], approvers: [], security: [] });
    expect(config.gates).toEqual({
      restore: { approvals: 1, expires: 15 * 60_000 },
      isolate: { approvals: 0, expires: 5 * 60_000 },
      'rotate-secrets': { approvals: 1, expires: 15 * 60_000 },
    });
    expect(config.alerts.thresholds).toEqual({ storage_used_pct: 90, api_error_rate_pct: 5, latency_p95_s: 2, failed_logins_10m: 20 });
    expect(config.alerts.metrics.latency_histogram).toBe('http_request_duration_seconds');
    expect(config.alerts.repeat).toBe(4 * 3_600_000);
    expect(config.escalation.after).toBe(30 * 60_000);
    expect(config.contacts).toEqual({});
    expect(config.email).toBeUndefined();
    expect(config.probes.timeout).toBe(5_000);
  });

  it('reads the environment defaults', () => {
    const dir = tmpDir();
    const { env } = loadConfig({}, dir);
    expect(env).toEqual({
      slackBotToken: undefined,
      slackSigningSecret: undefined,
      slackAppToken: undefined,
      slackApiUrl: undefined,
      pagerdutyRoutingKey: undefined,
      pagerdutyEventsUrl: 'https://events.pagerduty.com',
      pagerdutyWebhookSecret: undefined,
      configPath: undefined,
      state: path.join(dir, 'data/dr-state.db'),
      alertToken: undefined,
      backupKey: undefined,
      port: 3000,
      host: '0.0.0.0',
      logLevel: 'info',
    });
  });

  it('an empty or comment-only file means all defaults', () => {
    const dir = tmpDir();
    const defaults = withoutRuntime(loadConfig({}, dir));
    for (const yaml of ['', '# nothing here\n', '---\n']) {
      const file = path.join(dir, 'dr.yml');
      writeFileSync(file, yaml);
      expect(withoutRuntime(loadConfig({ DR_CONFIG: file }, dir))).toEqual(defaults);
    }
  });
});

describe('dr.example.yml', () => {
  const source = readFileSync(EXAMPLE, 'utf8');

  it('loads and equals the built-in defaults exactly', () => {
    const dir = tmpDir();
    const copy = path.join(dir, 'dr.example.yml');
    copyFileSync(EXAMPLE, copy);
    const example = loadConfig({ DR_CONFIG: copy }, dir);
    const defaults = loadConfig({}, dir);
    expect(withoutRuntime(example)).toStrictEqual(withoutRuntime(defaults));
  });

  it('writes out every key of the default config', () => {
    const written = parseYaml(source) as unknown;
    const missing = leafPaths(withoutRuntime(loadConfig({}, tmpDir())))
      .filter((keyPath) => !has(written, keyPath))
      .map((keyPath) => keyPath.join('.'));
    expect(missing).toEqual([]);
  });

  it('documents every key of the schema, optional ones at least in a comment', () => {
    const written = parseYaml(source) as unknown;
    const all = schemaPaths(configFileSchema._zod.def as unknown as SchemaDef);
    expect(all.length).toBeGreaterThan(60);
    const undocumented = all
      .filter((keyPath) => !has(written, keyPath))
      .filter((keyPath) => !new RegExp(`^\\s*#\\s*${keyPath.at(-1)}:`, 'm').test(source))
      .map((keyPath) => keyPath.join('.'));
    expect(undocumented).toEqual([]);
  });

  it('lists every environment variable of the runtime contract in its header', () => {
    for (const name of [
      'SLACK_BOT_TOKEN',
      'SLACK_SIGNING_SECRET',
      'SLACK_APP_TOKEN',
      'SLACK_API_URL',
      'PAGERDUTY_ROUTING_KEY',
      'PAGERDUTY_EVENTS_URL',
      'DR_CONFIG',
      'DR_STATE',
      'DR_ALERT_TOKEN',
      'DR_BACKUP_KEY',
      'PORT',
      'HOST',
      'LOG_LEVEL',
    ]) {
      expect(source).toMatch(new RegExp(`^#.*\\b${name}\\b`, 'm'));
    }
  });
});

describe('finding the file', () => {
  it('uses ./dr.yml in the working directory when DR_CONFIG is unset', () => {
    const dir = tmpDir();
    writeFileSync(path.join(dir, 'dr.yml'), 'system:\n  name: from-cwd\n');
    const config = loadConfig({}, dir);
    expect(config.system.name).toBe('from-cwd');
    expect(config.env.configPath).toBe(path.join(dir, 'dr.yml'));
  });

  it('resolves a relative DR_CONFIG against the working directory', () => {
    const dir = tmpDir();
    mkdirSync(path.join(dir, 'etc'));
    writeFileSync(path.join(dir, 'etc', 'bot.yml'), 'system:\n  name: relative\n');
    const config = loadConfig({ DR_CONFIG: 'etc/bot.yml' }, dir);
    expect(config.system.name).toBe('relative');
    expect(config.env.configPath).toBe(path.join(dir, 'etc', 'bot.yml'));
    expect(config.baseDir).toBe(path.join(dir, 'etc'));
  });

  it('a DR_CONFIG that does not exist is an error naming it', () => {
    const dir = tmpDir();
    const error = failure(() => loadConfig({ DR_CONFIG: 'nope.yml' }, dir));
    expect(error.userMessage).toContain(`DR_CONFIG: file not found: ${path.join(dir, 'nope.yml')}`);
  });
});

describe('${VAR} interpolation', () => {
  it('replaces variables in nested values and list items', () => {
    const config = load(
      [
        'database:',
        '  url: postgres://alphha:${DB_PASSWORD}@${DB_HOST}:5432/alphha_dms',
        'backups:',
        '  schedule:',
        '    db: "${DB_CRON}"',
        'secrets:',
        '  keys: ["${KEY_ONE}", "PREFIX_${KEY_TWO}_SUFFIX"]',
        'slack:',
        '  roles:',
        '    approvers:',
        '      - ${APPROVER}',
        '',
      ].join('\n'),
      { DB_PASSWORD: 'pw', DB_HOST: 'db.internal', DB_CRON: '*/5 * * * *', KEY_ONE: 'SECRET_KEY', KEY_TWO: 'TWO', APPROVER: 'U123' },
    );
    expect(config.database.url).toBe('postgres://alphha:pw@db.internal:5432/alphha_dms');
    expect(config.backups.schedule.db).toBe('*/5 * * * *');
    expect(config.secrets.keys).toEqual(['SECRET_KEY', 'PREFIX_TWO_SUFFIX']);
    expect(config.slack.roles.approvers).toEqual(['U123']);
  });

  it('keeps $${VAR} literal', () => {
    const config = load('service:\n  stop: "echo $${HOME} && echo ${WHO}"\n', { HOME: '/root', WHO: 'me' });
    expect(config.service.stop).toBe('echo ${HOME} && echo me');
  });

  it('an unset variable is an error naming the key and the variable', () => {
    const lines = problems('secrets:\n  keys: [A, "${MISSING_VAR}"]\nsystem:\n  name: ${ALSO_MISSING}\n', { UNRELATED: 'x' });
    expect(lines).toContain('secrets.keys.1: environment variable MISSING_VAR is not set');
    expect(lines).toContain('system.name: environment variable ALSO_MISSING is not set');
  });

  it('an unset variable is reported once', () => {
    expect(problems('system:\n  name: ${ALSO_MISSING}\n')).toEqual(['system.name: environment variable ALSO_MISSING is not set']);
  });

  it('an invalid value never echoes what a variable put into it', () => {
    const password = 'hunter2-from-the-environment';
    const error = failure(() => load('database:\n  url: postgresql+asyncpg://alphha:${PG_PASSWORD}@db/alphha\n', { PG_PASSWORD: password }));
    expect(error.userMessage).toContain('database.url: ');
    expect(error.userMessage).not.toContain(password);
  });

  it('a value that looks like YAML never changes the structure', () => {
    const config = load('system:\n  name: ${NAME}\nservice:\n  logs: ${INJECT}\n', {
      NAME: 'a: b\n- c',
      INJECT: 'x\nbackups:\n  retention:\n    daily: 1\n{evil: true}',
    });
    expect(config.system.name).toBe('a: b\n- c');
    expect(config.service.logs).toBe('x\nbackups:\n  retention:\n    daily: 1\n{evil: true}');
    expect(config.backups.retention.daily).toBe(7);
  });

  it('a whole-value number or boolean from a variable is typed; anything else stays a string', () => {
    const config = load('backups:\n  retention:\n    daily: ${DAYS}\nsecrets:\n  keep_previous: ${KEEP}\nsystem:\n  name: "${N}"\n', { DAYS: '9', KEEP: 'false', N: '42' });
    expect(config.backups.retention.daily).toBe(9);
    expect(config.secrets.keep_previous).toBe(false);
    expect(config.system.name).toBe('42');
    expect(problems('backups:\n  retention:\n    daily: ${DAYS}\n', { DAYS: '7 days' })).toEqual(['backups.retention.daily: expected a positive integer']);
  });
});

describe('validation messages name the key', () => {
  it('S3 request bounds: 30 s and 2 tries by default, a bad value named', () => {
    expect(load('').backups).toMatchObject({ s3_timeout: 30_000, s3_attempts: 2 });
    expect(load('backups:\n  s3_timeout: 10s\n  s3_attempts: 3\n').backups).toMatchObject({ s3_timeout: 10_000, s3_attempts: 3 });
    expect(problems('backups:\n  s3_attempts: 9\n  s3_timeout: soon\n')).toEqual(
      expect.arrayContaining(['backups.s3_attempts: expected a positive integer up to 5, got 9', expect.stringMatching(/^backups\.s3_timeout: expected a duration such as 15m or 4h/)]),
    );
  });

  it('a wrong type', () => {
    expect(problems('backups:\n  retention:\n    daily: seven\n')).toContain(
      'backups.retention.daily: expected a positive integer, got "seven"',
    );
  });

  it('other wrong types', () => {
    const lines = problems(
      [
        'secrets:',
        '  keep_previous: "yes"',
        '  keys: SECRET_KEY',
        'alerts:',
        '  thresholds:',
        '    storage_used_pct: 120',
        '    latency_p95_s: 0',
        'gates:',
        '  isolate:',
        '    approvals: -1',
        'system:',
        '  name: ""',
        '',
      ].join('\n'),
    );
    expect(lines).toContain('secrets.keep_previous: expected true or false, got "yes"');
    expect(lines).toContain('secrets.keys: expected a list of strings, got "SECRET_KEY"');
    expect(lines).toContain('alerts.thresholds.storage_used_pct: expected a percentage up to 100, got 120');
    expect(lines).toContain('alerts.thresholds.latency_p95_s: expected a positive number, got 0');
    expect(lines).toContain('gates.isolate.approvals: expected a non-negative integer, got -1');
    expect(lines).toContain('system.name: expected a non-empty string, got ""');
  });

  it("service.env refuses the bot's own variables and what is not a variable name", () => {
    const lines = problems('service:\n  env: [PATH, SLACK_BOT_TOKEN, DR_BACKUP_KEY, PAGERDUTY_ROUTING_KEY, "A B"]\n');
    expect(lines).toContain("service.env.1: expected a variable service commands may see; SLACK_*, DR_* and PAGERDUTY_* are the bot's own and never passed on, got \"SLACK_BOT_TOKEN\"");
    expect(lines.filter((line) => line.includes("are the bot's own")).map((line) => line.split(':')[0])).toEqual(['service.env.1', 'service.env.2', 'service.env.3']);
    expect(lines).toContain('service.env.4: expected an environment variable name, got "A B"');
    expect(load('service:\n  env: [PATH, TZ, COMPOSE_PROJECT_NAME]\n').service.env).toEqual(['PATH', 'TZ', 'COMPOSE_PROJECT_NAME']);
  });

  it('bad durations', () => {
    const lines = problems('objectives:\n  rto: 4 hours\n  rpo: 3600\ngates:\n  restore:\n    expires: 0m\nescalation:\n  after: soon\n');
    expect(lines).toContain('objectives.rto: expected a duration such as 15m or 4h, got "4 hours"');
    expect(lines).toContain('objectives.rpo: expected a duration such as 15m or 4h, got 3600');
    expect(lines).toContain('gates.restore.expires: expected a duration such as 15m or 4h, got "0m"');
    expect(lines).toContain('escalation.after: expected a duration such as 15m or 4h, got "soon"');
  });

  it('durations are held in milliseconds', () => {
    const config = load('objectives:\n  rto: 90m\n  rpo: 250ms\nprobes:\n  timeout: 1.5s\ngates:\n  restore:\n    expires: 1d\n');
    expect(config.objectives).toEqual({ rto: 5_400_000, rpo: 250 });
    expect(config.probes.timeout).toBe(1_500);
    expect(config.gates.restore).toEqual({ approvals: 1, expires: 86_400_000 });
  });

  it('a bad cron expression', () => {
    expect(problems('backups:\n  schedule:\n    db: every hour\n')).toContain(
      'backups.schedule.db: expected a cron expression with 5 or 6 fields, got "every hour"',
    );
    expect(load('backups:\n  schedule:\n    db: "0 */5 * * * *"\n').backups.schedule.db).toBe('0 */5 * * * *');
  });

  it('a bad time zone', () => {
    expect(problems('backups:\n  timezone: Mars/Olympus_Mons\n')).toContain(
      'backups.timezone: expected an IANA time zone such as UTC or Europe/Berlin, got "Mars/Olympus_Mons"',
    );
    expect(load('backups:\n  timezone: Europe/Berlin\n').backups.timezone).toBe('Europe/Berlin');
  });

  it('bad URLs', () => {
    const lines = problems('system:\n  health_url: localhost:7001/health\n  metrics_url: ftp://x/metrics\ndatabase:\n  url: mysql://root@db/dms\n');
    expect(lines).toContain('system.health_url: expected an http(s) URL, got "localhost:7001/health"');
    expect(lines).toContain('system.metrics_url: expected an http(s) URL, got "ftp://x/metrics"');
    expect(lines).toContain('database.url: expected sqlite:PATH or postgres://…, got "mysql://root@db/dms"');
  });

  it('unknown keys, at any depth', () => {
    const lines = problems('backups:\n  retension:\n    daily: 7\nsystm:\n  name: x\nalerts:\n  thresholds:\n    storage_pct: 80\n');
    expect(lines).toContain('backups.retension: unknown key');
    expect(lines).toContain('systm: unknown key');
    expect(lines).toContain('alerts.thresholds.storage_pct: unknown key');
  });

  it('unknown keys inside a gate', () => {
    expect(problems('gates:\n  restore:\n    aprovals: 2\n')).toContain('gates.restore.aprovals: unknown key');
  });

  it('storage kind s3 needs a bucket, and takes no path', () => {
    expect(problems('storage:\n  kind: s3\n').some((line) => line.startsWith('storage.bucket: '))).toBe(true);
    expect(problems('storage:\n  kind: s3\n  bucket: b\n  path: ./x\n')).toContain('storage.path: unknown key');
    expect(problems('storage:\n  kind: nfs\n').some((line) => line.startsWith('storage.kind: expected kind: local or kind: s3'))).toBe(true);
    expect(problems('storage:\n  kind: s3\n  bucket: b\n  endpoint: minio:9000\n')).toContain(
      'storage.endpoint: expected an http(s) URL, got "minio:9000"',
    );
  });

  it('s3 storage gets its defaults', () => {
    expect(load('storage:\n  kind: s3\n  bucket: docs\n').storage).toEqual({ kind: 's3', bucket: 'docs', region: 'us-east-1', force_path_style: false });
    expect(load('storage:\n  kind: s3\n  bucket: docs\n  region: eu-west-1\n  endpoint: http://127.0.0.1:9000\n  force_path_style: true\n').storage).toEqual({
      kind: 's3',
      bucket: 'docs',
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:9000',
      force_path_style: true,
    });
  });

  it('the email block is all or nothing', () => {
    expect(load('email:\n  smtp_url: smtp://mail\n  from: bot@x\n  to: [ops@x]\n').email).toEqual({ smtp_url: 'smtp://mail', from: 'bot@x', to: ['ops@x'] });
    expect(problems('email:\n  smtp_url: smtp://mail\n  from: bot@x\n  to: []\n')).toContain('email.to: expected at least one address, got []');
    expect(problems('email:\n  smtp_url: smtp://mail\n  to: [ops@x]\n').some((line) => line.startsWith('email.from: '))).toBe(true);
  });

  it('invalid YAML mentions the line', () => {
    const lines = problems('system:\n  name: ok\nbackups:\n  retention: [7, 4\n  timezone: UTC\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/not valid YAML at line \d+/);
    expect(problems('system:\n  name: a\nsystem:\n  name: b\n')[0]).toMatch(/not valid YAML at line 3\b/);
  });

  it('a file that is not a mapping is an error', () => {
    expect(problems('- a\n- b\n')).toHaveLength(1);
    expect(problems('just text\n')).toHaveLength(1);
  });

  it('reports several problems at once, environment and file together', () => {
    const error = failure(() =>
      load('backups:\n  retention:\n    daily: seven\n    weekly: 0\n  retension: 1\nobjectives:\n  rto: forever\n', { PORT: 'eighty' }),
    );
    const lines = error.userMessage.split('\n').map((line) => line.trim());
    expect(lines).toEqual(
      expect.arrayContaining([
        'PORT: expected a port number 0-65535, got "eighty"',
        'backups.retention.daily: expected a positive integer, got "seven"',
        'backups.retention.weekly: expected a positive integer, got 0',
        'backups.retension: unknown key',
        'objectives.rto: expected a duration such as 15m or 4h, got "forever"',
      ]),
    );
    expect(error.userMessage).toMatch(/^Invalid configuration \(.*dr\.yml\):\n {2}\S/);
  });
});

describe('paths', () => {
  it('relative paths resolve against the config file folder, not the working directory', () => {
    const cwd = tmpDir();
    const folder = path.join(cwd, 'conf');
    mkdirSync(folder);
    writeFileSync(
      path.join(folder, 'dr.yml'),
      [
        'database:',
        '  url: sqlite:./db/alphha.db',
        'storage:',
        '  kind: local',
        '  path: ../uploads',
        'backups:',
        '  repository: backups',
        '  config_paths: [.env, /etc/nginx/nginx.conf]',
        'secrets:',
        '  env_file: ./app/.env',
        '',
      ].join('\n'),
    );
    const config = loadConfig({ DR_CONFIG: 'conf/dr.yml' }, cwd);
    expect(config.baseDir).toBe(folder);
    expect(config.database.url).toBe(`sqlite:${path.join(folder, 'db/alphha.db')}`);
    expect(config.storage).toEqual({ kind: 'local', path: path.join(cwd, 'uploads') });
    expect(config.backups.repository).toBe(path.join(folder, 'backups'));
    expect(config.backups.config_paths).toEqual([path.join(folder, '.env'), '/etc/nginx/nginx.conf']);
    expect(config.secrets.env_file).toBe(path.join(folder, 'app/.env'));
  });

  it('URLs are kept as they are', () => {
    const config = load('database:\n  url: postgres://alphha@localhost/alphha_dms\nbackups:\n  repository: s3://alphha-dms-dr/backups\n  region: eu-central-1\n');
    expect(config.database.url).toBe('postgres://alphha@localhost/alphha_dms');
    expect(config.backups.repository).toBe('s3://alphha-dms-dr/backups');
    expect(config.backups.region).toBe('eu-central-1');
  });
});

describe('the config object', () => {
  it('is deeply frozen', () => {
    const config = load('slack:\n  roles:\n    approvers: [U1]\n', SECRET_ENV);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.env)).toBe(true);
    expect(Object.isFrozen(config.backups.retention)).toBe(true);
    expect(Object.isFrozen(config.backups.config_paths)).toBe(true);
    expect(Object.isFrozen(config.gates['rotate-secrets'])).toBe(true);
    expect(Object.isFrozen(config.slack.roles.approvers)).toBe(true);
    expect(() => {
      (config.backups.retention as { daily: number }).daily = 1;
    }).toThrow(TypeError);
    expect(() => {
      (config.slack.roles.approvers as string[]).push('U2');
    }).toThrow(TypeError);
    expect(() => {
      (config.env as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(config.env.slackBotToken?.reveal()).toBe(SECRET_ENV.SLACK_BOT_TOKEN);
  });

  it('never shows a secret value, only its 8-hex fingerprint', () => {
    const config = loadConfig(SECRET_ENV, tmpDir());
    const { env } = config;
    const secrets = [env.slackBotToken, env.slackSigningSecret, env.slackAppToken, env.pagerdutyRoutingKey, env.alertToken, env.backupKey];
    for (const secret of secrets) expect(secret).toBeInstanceOf(Secret);

    const renderings = [
      JSON.stringify(config),
      JSON.stringify(config, null, 2),
      String(config),
      `${String(env.slackBotToken)} ${env.slackSigningSecret}`,
      inspect(config, { depth: 10 }),
      inspect(config, { depth: 10, showHidden: true, getters: true }),
      secrets.map((secret) => String(secret)).join(' '),
    ];
    for (const text of renderings) {
      for (const value of Object.values(SECRET_ENV)) expect(text).not.toContain(value);
    }
    const json = JSON.stringify(config);
    const inspected = inspect(config, { depth: 10 });
    for (const value of Object.values(SECRET_ENV)) {
      // Keyed (HMAC under the installation's key), so a bare SHA-256 prefix of a guess does not match it.
      expect(json).toContain(`[secret ${fingerprint(value)}]`);
      expect(inspected).toContain(`[secret ${fingerprint(value)}]`);
      expect(json).not.toContain(`[secret ${sha8(value)}]`);
    }
    expect(String(env.slackBotToken)).toBe(`[secret ${fingerprint(SECRET_ENV.SLACK_BOT_TOKEN!)}]`);
    expect(env.slackBotToken?.fingerprint).toMatch(/^[0-9a-f]{8}$/);
  });

  it('an empty secret variable counts as unset', () => {
    const { env } = loadConfig({ SLACK_BOT_TOKEN: '', DR_ALERT_TOKEN: '' }, tmpDir());
    expect(env.slackBotToken).toBeUndefined();
    expect(env.alertToken).toBeUndefined();
  });
});

describe('environment variables', () => {
  const env = (vars: Env) => loadConfig(vars, tmpDir()).env;
  const envProblems = (vars: Env) =>
    failure(() => loadConfig(vars, tmpDir()))
      .userMessage.split('\n')
      .slice(1)
      .map((line) => line.trim());

  it('PORT', () => {
    expect(env({ PORT: '8080' }).port).toBe(8080);
    expect(env({ PORT: '0' }).port).toBe(0);
    expect(env({ PORT: '' }).port).toBe(3000);
    expect(envProblems({ PORT: 'abc' })).toEqual(['PORT: expected a port number 0-65535, got "abc"']);
    expect(envProblems({ PORT: '70000' })).toEqual(['PORT: expected a port number 0-65535, got "70000"']);
    expect(envProblems({ PORT: '-1' })).toEqual(['PORT: expected a port number 0-65535, got "-1"']);
    expect(envProblems({ PORT: '80.5' })).toEqual(['PORT: expected a port number 0-65535, got "80.5"']);
  });

  it('HOST', () => {
    expect(env({ HOST: '127.0.0.1' }).host).toBe('127.0.0.1');
  });

  it('LOG_LEVEL', () => {
    expect(env({ LOG_LEVEL: 'debug' }).logLevel).toBe('debug');
    expect(env({ LOG_LEVEL: 'silent' }).logLevel).toBe('silent');
    expect(envProblems({ LOG_LEVEL: 'verbose' })).toEqual([
      'LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "verbose"',
    ]);
  });

  it('SLACK_API_URL and PAGERDUTY_EVENTS_URL', () => {
    expect(env({ SLACK_API_URL: 'http://127.0.0.1:9999/api/' }).slackApiUrl).toBe('http://127.0.0.1:9999/api/');
    expect(env({ PAGERDUTY_EVENTS_URL: 'https://127.0.0.1:8443' }).pagerdutyEventsUrl).toBe('https://127.0.0.1:8443');
    expect(envProblems({ SLACK_API_URL: 'slack.example/api' })).toEqual(['SLACK_API_URL: expected an http(s) URL, got "slack.example/api"']);
    expect(envProblems({ PAGERDUTY_EVENTS_URL: 'events.pagerduty.com' })).toEqual([
      'PAGERDUTY_EVENTS_URL: expected an http(s) URL, got "events.pagerduty.com"',
    ]);
  });

  it('DR_STATE: a postgres URL is kept as it is, a path is resolved against the working directory', () => {
    const dir = tmpDir();
    expect(loadConfig({ DR_STATE: 'postgres://dr@db.internal:5432/dr_state' }, dir).env.state).toBe('postgres://dr@db.internal:5432/dr_state');
    expect(loadConfig({ DR_STATE: 'postgresql://dr@localhost/dr' }, dir).env.state).toBe('postgresql://dr@localhost/dr');
    expect(loadConfig({ DR_STATE: 'state/bot.db' }, dir).env.state).toBe(path.join(dir, 'state/bot.db'));
    expect(loadConfig({ DR_STATE: '/var/lib/dr/state.db' }, dir).env.state).toBe('/var/lib/dr/state.db');
  });
});

describe('review follow-ups', () => {
  it('defaults storage.kind to local when only a path is given', () => {
    const config = load('storage:\n  path: ./files\n');
    expect(config.storage).toMatchObject({ kind: 'local' });
    expect((config.storage as { path: string }).path).toMatch(/\/files$/);
  });

  it('masks a password typed into a URL when echoing it in an error', () => {
    const lines = problems('database:\n  url: mysql://alphha:hunter2@db/alphha\n');
    expect(lines).toEqual(['database.url: expected sqlite:PATH or postgres://…, got "mysql://alphha:***@db/alphha"']);
  });
});
