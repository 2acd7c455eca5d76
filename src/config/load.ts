import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { DrError } from '../domain/errors.ts';
import { configFileSchema, type ConfigFile } from './schema.ts';
import { Secret } from './secret.ts';

/** Settings that come from the environment (DESIGN.md §4); secrets are wrapped so they never print. */
export interface RuntimeEnv {
  slackBotToken: Secret | undefined;
  slackSigningSecret: Secret | undefined;
  slackAppToken: Secret | undefined;
  slackApiUrl: string | undefined;
  pagerdutyRoutingKey: Secret | undefined;
  pagerdutyEventsUrl: string;
  /** Secret of the PagerDuty v3 webhook subscription; unset, POST /webhooks/pagerduty answers 503. */
  pagerdutyWebhookSecret: Secret | undefined;
  configPath: string | undefined;
  state: string;
  alertToken: Secret | undefined;
  backupKey: Secret | undefined;
  port: number;
  host: string;
  logLevel: string;
}

/** The validated, frozen configuration every part of the bot reads. */
export type Config = Readonly<ConfigFile & { env: Readonly<RuntimeEnv>; baseDir: string }>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Loads dr.yml (DR_CONFIG, else ./dr.yml when present, else defaults) and the environment, or throws CONFIG_INVALID naming every bad key. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const problems: string[] = [];
  const runtime = readRuntimeEnv(env, cwd, problems);

  let raw: unknown = {};
  let baseDir = cwd;
  const substituted: Substitutions = { keys: new Set(), unset: new Set() };
  if (runtime.configPath !== undefined) {
    baseDir = path.dirname(runtime.configPath);
    raw = readConfigFile(runtime.configPath, env, problems, substituted);
  }

  const parsed = configFileSchema.safeParse(raw ?? {}, { reportInput: true });
  if (!parsed.success) {
    // A key whose variable is unset was already reported; its empty value would only add noise.
    const issues = parsed.error.issues.filter((issue) => !substituted.unset.has(issue.path.join('.')));
    problems.push(...issues.map((issue) => describeIssue(issue, substituted.keys)));
  }
  if (problems.length > 0 || !parsed.success) {
    const where = runtime.configPath ? ` (${runtime.configPath})` : '';
    throw new DrError('CONFIG_INVALID', `Invalid configuration${where}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }

  const file = resolvePaths(parsed.data, baseDir);
  return deepFreeze({ ...file, env: runtime, baseDir });
}

function readRuntimeEnv(env: NodeJS.ProcessEnv, cwd: string, problems: string[]): RuntimeEnv {
  const secret = (name: string) => (env[name] ? new Secret(env[name]) : undefined);
  const port = env.PORT === undefined || env.PORT === '' ? 3000 : Number(env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    problems.push(`PORT: expected a port number 0-65535, got ${JSON.stringify(env.PORT)}`);
  }
  const logLevel = env.LOG_LEVEL || 'info';
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
  for (const name of ['SLACK_API_URL', 'PAGERDUTY_EVENTS_URL']) {
    const value = env[name];
    if (value && !/^https?:\/\/\S+$/.test(value)) problems.push(`${name}: expected an http(s) URL, got ${JSON.stringify(value)}`);
  }

  let configPath: string | undefined;
  if (env.DR_CONFIG) {
    configPath = path.resolve(cwd, env.DR_CONFIG);
    if (!existsSync(configPath)) problems.push(`DR_CONFIG: file not found: ${configPath}`);
  } else if (existsSync(path.join(cwd, 'dr.yml'))) {
    configPath = path.join(cwd, 'dr.yml');
  }

  const state = env.DR_STATE || './data/dr-state.db';
  return {
    slackBotToken: secret('SLACK_BOT_TOKEN'),
    slackSigningSecret: secret('SLACK_SIGNING_SECRET'),
    slackAppToken: secret('SLACK_APP_TOKEN'),
    slackApiUrl: env.SLACK_API_URL || undefined,
    pagerdutyRoutingKey: secret('PAGERDUTY_ROUTING_KEY'),
    pagerdutyEventsUrl: env.PAGERDUTY_EVENTS_URL || 'https://events.pagerduty.com',
    pagerdutyWebhookSecret: secret('PAGERDUTY_WEBHOOK_SECRET'),
    configPath,
    state: /^postgres(ql)?:\/\//.test(state) ? state : path.resolve(cwd, state),
    alertToken: secret('DR_ALERT_TOKEN'),
    backupKey: secret('DR_BACKUP_KEY'),
    port,
    host: env.HOST || '0.0.0.0',
    logLevel,
  };
}

/** Key paths whose values came from `${VAR}`: their values may hold secrets and are never echoed. */
interface Substitutions {
  keys: Set<string>;
  unset: Set<string>;
}

function readConfigFile(file: string, env: NodeJS.ProcessEnv, problems: string[], substituted: Substitutions): unknown {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (error) {
    if (existsSync(file)) problems.push(`DR_CONFIG: cannot read ${file}: ${(error as Error).message}`);
    return {};
  }
  try {
    // Interpolate after parsing, so a variable's value can never change the YAML structure.
    return interpolate(parseYaml(source) ?? {}, env, [], problems, substituted);
  } catch (error) {
    if (!(error instanceof YAMLParseError)) throw error;
    const where = error.linePos ? ` at line ${error.linePos[0].line}, column ${error.linePos[0].col}` : '';
    const reason = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    problems.push(`${path.basename(file)}: not valid YAML${where}: ${reason}`);
    return {};
  }
}

/** Replaces `${VAR}` in every string value; `$${VAR}` stays literal. An unset variable is an error naming the key. */
function interpolate(value: unknown, env: NodeJS.ProcessEnv, keyPath: string[], problems: string[], substituted: Substitutions): unknown {
  if (typeof value === 'string') {
    const key = keyPath.join('.');
    // `daily: ${DAYS}` with DAYS=7 means the number 7; only whole-value numbers and booleans are typed.
    const whole = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(value);
    const single = whole ? env[whole[1]!] : undefined;
    if (single !== undefined && /^(-?\d+(\.\d+)?|true|false)$/.test(single)) {
      substituted.keys.add(key);
      return single === 'true' ? true : single === 'false' ? false : Number(single);
    }
    return value.replace(/\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, escaped: string, name: string) => {
      if (escaped) return whole.slice(1);
      substituted.keys.add(key);
      const replacement = env[name];
      if (replacement === undefined) {
        problems.push(`${key || '(root)'}: environment variable ${name} is not set`);
        substituted.unset.add(key);
        return whole;
      }
      return replacement;
    });
  }
  if (Array.isArray(value)) return value.map((item, index) => interpolate(item, env, [...keyPath, String(index)], problems, substituted));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, interpolate(item, env, [...keyPath, key], problems, substituted)]),
    );
  }
  return value;
}

function describeIssue(issue: z.core.$ZodIssue, secretKeys: ReadonlySet<string>): string {
  const key = issue.path.join('.') || '(root)';
  if (key === '(root)' && issue.code === 'invalid_type') return 'dr.yml: expected a mapping of settings at the top level';
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((unknownKey) => `${key === '(root)' ? '' : `${key}.`}${unknownKey}: unknown key`).join('\n  ');
  }
  const echo = 'input' in issue && issue.input !== undefined && !secretKeys.has(issue.path.join('.'));
  // A URL typed with its password in it is still a secret: show it with the password masked.
  const got = echo ? `, got ${JSON.stringify(issue.input).replace(/(\/\/[^:/@\s"]*):[^@/\s"]*@/g, '$1:***@')}` : '';
  return `${key}: ${issue.message}${got}`;
}

function resolvePaths(file: ConfigFile, baseDir: string): ConfigFile {
  const local = (p: string) => path.resolve(baseDir, p);
  const databaseUrl = file.database.url.startsWith('sqlite:')
    ? `sqlite:${local(file.database.url.slice('sqlite:'.length))}`
    : file.database.url;
  return {
    ...file,
    database: { url: databaseUrl },
    storage: file.storage.kind === 'local' ? { ...file.storage, path: local(file.storage.path) } : file.storage,
    backups: {
      ...file.backups,
      repository: file.backups.repository.startsWith('s3://') ? file.backups.repository : local(file.backups.repository),
      config_paths: file.backups.config_paths.map(local),
    },
    secrets: { ...file.secrets, env_file: local(file.secrets.env_file), evidence_dir: local(file.secrets.evidence_dir) },
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !(value instanceof Secret) && !Object.isFrozen(value)) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}
