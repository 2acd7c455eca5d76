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
  if (runtime.configPath !== undefined) {
    baseDir = path.dirname(runtime.configPath);
    raw = readConfigFile(runtime.configPath, env, problems);
  }

  const parsed = configFileSchema.safeParse(raw ?? {}, { reportInput: true });
  if (!parsed.success) problems.push(...parsed.error.issues.map(describeIssue));
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
    configPath,
    state: /^postgres(ql)?:\/\//.test(state) ? state : path.resolve(cwd, state),
    alertToken: secret('DR_ALERT_TOKEN'),
    backupKey: secret('DR_BACKUP_KEY'),
    port,
    host: env.HOST || '0.0.0.0',
    logLevel,
  };
}

function readConfigFile(file: string, env: NodeJS.ProcessEnv, problems: string[]): unknown {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (error) {
    if (existsSync(file)) problems.push(`DR_CONFIG: cannot read ${file}: ${(error as Error).message}`);
    return {};
  }
  try {
    // Interpolate after parsing, so a variable's value can never change the YAML structure.
    return interpolate(parseYaml(source) ?? {}, env, [], problems);
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos ? ` at line ${error.linePos[0].line}` : '';
    problems.push(`dr.yml: not valid YAML${where}: ${(error as Error).message.split('\n')[0]}`);
    return {};
  }
}

/** Replaces `${VAR}` in every string value; `$${VAR}` stays literal. An unset variable is an error naming the key. */
function interpolate(value: unknown, env: NodeJS.ProcessEnv, keyPath: string[], problems: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, escaped: string, name: string) => {
      if (escaped) return whole.slice(1);
      const replacement = env[name];
      if (replacement === undefined) {
        problems.push(`${keyPath.join('.') || '(root)'}: environment variable ${name} is not set`);
        return '';
      }
      return replacement;
    });
  }
  if (Array.isArray(value)) return value.map((item, index) => interpolate(item, env, [...keyPath, String(index)], problems));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, interpolate(item, env, [...keyPath, key], problems)]),
    );
  }
  return value;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const key = issue.path.join('.') || '(root)';
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((unknownKey) => `${key === '(root)' ? '' : `${key}.`}${unknownKey}: unknown key`).join('\n  ');
  }
  const got = 'input' in issue && issue.input !== undefined ? `, got ${JSON.stringify(issue.input)}` : '';
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
    secrets: { ...file.secrets, env_file: local(file.secrets.env_file) },
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !(value instanceof Secret) && !Object.isFrozen(value)) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}
