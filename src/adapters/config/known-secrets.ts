import { readFileSync } from 'node:fs';
import type { Config } from '../../config/load.ts';
import { Secret } from '../../config/secret.ts';
import { readEnvValues } from './env-file.ts';

// Shorter values (`DEBUG=1`, `PORT=8000`) are settings, not secrets: redacting them would garble every line.
const MIN_SECRET_LENGTH = 8;

// What the bot's own secret settings are called in the environment (DESIGN.md §4).
const ENV_NAMES: Record<string, string> = {
  slackBotToken: 'SLACK_BOT_TOKEN',
  slackSigningSecret: 'SLACK_SIGNING_SECRET',
  slackAppToken: 'SLACK_APP_TOKEN',
  pagerdutyRoutingKey: 'PAGERDUTY_ROUTING_KEY',
  alertToken: 'DR_ALERT_TOKEN',
  backupKey: 'DR_BACKUP_KEY',
};

/**
 * Every secret value the bot knows, by name: its own tokens and keys (every Secret of the runtime
 * environment), the password of the DMS database URL, and every value in `secrets.env_file` (their
 * `_PREVIOUS` copies included) — that file is read afresh each time, and values seen in it earlier stay
 * known after a rotation replaces them. The one place output is scrubbed before it is stored, logged or posted.
 */
export class KnownSecrets {
  private readonly values = new Map<string, string>();

  constructor(
    own: Readonly<Record<string, string | undefined>>,
    private readonly envFile: string | undefined,
  ) {
    for (const [name, value] of Object.entries(own)) if (value) this.remember(name, value);
  }

  /** The secrets of a loaded config: the bot's own, the database password, and the env file's. */
  static of(config: Config): KnownSecrets {
    const own: Record<string, string | undefined> = {};
    for (const [field, value] of Object.entries(config.env)) if (value instanceof Secret) own[ENV_NAMES[field] ?? field] = value.reveal();
    const password = databasePassword(config.database.url);
    if (password) own.DATABASE_PASSWORD = password;
    return new KnownSecrets(own, config.secrets.env_file);
  }

  /** `text` with every known value replaced by `[redacted NAME]`, longest first (a value inside another is not split). */
  redact(text: string): string {
    this.readEnvFile();
    if (!text) return text;
    let clean = text;
    for (const [value, name] of [...this.values].sort((a, b) => b[0].length - a[0].length)) {
      if (clean.includes(value)) clean = clean.split(value).join(`[redacted ${name}]`);
    }
    return clean;
  }

  private readEnvFile(): void {
    if (!this.envFile) return;
    let content: string;
    try {
      content = readFileSync(this.envFile, 'utf8');
    } catch {
      // Missing or unreadable now: the values seen before stay known.
      return;
    }
    for (const [name, value] of Object.entries(readEnvValues(content))) this.remember(name, value);
  }

  private remember(name: string, value: string): void {
    if (value.length < MIN_SECRET_LENGTH || this.values.has(value)) return;
    this.values.set(value, name);
  }
}

function databasePassword(url: string): string | undefined {
  if (!/^postgres(ql)?:\/\//.test(url)) return undefined;
  try {
    return decodeURIComponent(new URL(url).password) || undefined;
  } catch {
    return undefined;
  }
}
