import nodeCron from 'node-cron';
import { z } from 'zod';
import { parseDuration } from './duration.ts';

// Messages read as "expected …"; the loader prefixes the key and appends what it got.
// A bare number where text is expected (a name of digits, or one typed from a ${VAR}) is taken as its text.
const text = z.preprocess(
  (value) => (typeof value === 'number' ? String(value) : value),
  z.string({ error: 'expected a string' }).min(1, { error: 'expected a non-empty string' }),
);
const positiveInt = z.int({ error: 'expected a positive integer' }).positive({ error: 'expected a positive integer' });
const nonNegativeInt = z.int({ error: 'expected a non-negative integer' }).nonnegative({ error: 'expected a non-negative integer' });
const positiveNumber = z.number({ error: 'expected a positive number' }).positive({ error: 'expected a positive number' });
const httpUrl = text.refine((value) => /^https?:\/\/[^\s]+$/.test(value), { error: 'expected an http(s) URL' });
const stringList = z.array(text, { error: 'expected a list of strings' });

// The bot's own variables hold its tokens and keys: a service command never inherits them, whatever dr.yml says.
const BOT_ONLY_VARIABLES = /^(SLACK_|DR_|PAGERDUTY_)/;
const serviceEnvName = text
  .refine((value) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(value), { error: 'expected an environment variable name' })
  .refine((value) => !BOT_ONLY_VARIABLES.test(value), { error: "expected a variable service commands may see; SLACK_*, DR_* and PAGERDUTY_* are the bot's own and never passed on" });

/** A duration such as `15m` or `4h`, held as milliseconds. */
const duration = z
  .string({ error: 'expected a duration such as 15m or 4h' })
  .transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined || ms <= 0) {
      ctx.addIssue({ code: 'custom', message: 'expected a duration such as 15m or 4h' });
      return z.NEVER;
    }
    return ms;
  });

/** Five- or six-field cron expressions, checked by the scheduler's own parser. */
const cron = text.refine((value) => [5, 6].includes(value.trim().split(/\s+/).length) && nodeCron.validate(value), {
  error: 'expected a cron expression with 5 or 6 fields',
});

const timezone = text.refine(
  (value) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: value });
      return true;
    } catch {
      return false;
    }
  },
  { error: 'expected an IANA time zone such as UTC or Europe/Berlin' },
);

const databaseUrl = text.refine((value) => /^(sqlite:|postgres(ql)?:\/\/)/.test(value), {
  error: 'expected sqlite:PATH or postgres://…',
});

// The uploads folder as the DMS sees it (a container's mount point): absolute, as the DMS stores it in file_path.
const absolutePath = text.refine((value) => value.startsWith('/') && !value.split('/').includes('..'), { error: 'expected an absolute path (starting with /, without ..)' });
const localStorage = z.object({ kind: z.literal('local'), path: text.default('./uploads'), path_prefix: absolutePath.optional() });
const s3Storage = z.object({
  kind: z.literal('s3'),
  bucket: text,
  region: text.default('us-east-1'),
  endpoint: httpUrl.optional(),
  force_path_style: z.boolean({ error: 'expected true or false' }).default(false),
});

const gate = (approvals: number, expires: string) =>
  z.object({ approvals: nonNegativeInt.default(approvals), expires: duration.prefault(expires) }).strict().prefault({});

/** The whole of dr.yml (DESIGN.md §4): every key has a built-in default. */
export const configFileSchema = z
  .object({
    system: z
      .object({
        name: text.default('alphha-dms'),
        health_url: httpUrl.default('http://localhost:7001/api/v1/monitoring/health'),
        metrics_url: httpUrl.default('http://localhost:7001/api/v1/monitoring/prometheus'),
      })
      .strict()
      .prefault({}),
    database: z.object({ url: databaseUrl.default('sqlite:./data/alphha.db') }).strict().prefault({}),
    storage: z
      .preprocess(
        // `kind` defaults to local like every other key: `storage: {path: /srv/uploads}` is enough.
        (value) => (value !== null && typeof value === 'object' && !('kind' in value) ? { kind: 'local', ...value } : value),
        z.discriminatedUnion('kind', [localStorage.strict(), s3Storage.strict()], { error: 'expected kind: local or kind: s3' }),
      )
      .prefault({ kind: 'local' }),
    backups: z
      .object({
        repository: text.default('./backups'),
        region: text.optional(),
        endpoint: httpUrl.optional(),
        // Every S3 request (the repository, and an S3 documents bucket): how long one try may sit silent, how many tries.
        s3_timeout: duration.prefault('30s'),
        s3_attempts: positiveInt.max(5, { error: 'expected a positive integer up to 5' }).default(2),
        config_paths: stringList.default(['.env', 'docker-compose.yml', 'backend/alembic/', 'nginx/']),
        schedule: z
          .object({
            db: cron.default('0 * * * *'),
            storage: cron.default('15 * * * *'),
            config: cron.default('30 2 * * *'),
            prune: cron.default('0 3 * * *'),
            verify: cron.default('0 4 * * 0'),
            drill: cron.default('0 5 1 * *'),
          })
          .strict()
          .prefault({}),
        retention: z
          .object({ daily: positiveInt.default(7), weekly: positiveInt.default(4), monthly: positiveInt.default(12) })
          .strict()
          .prefault({}),
        timezone: timezone.default('UTC'),
      })
      .strict()
      .prefault({}),
    objectives: z.object({ rto: duration.prefault('4h'), rpo: duration.prefault('1h') }).strict().prefault({}),
    secrets: z
      .object({
        env_file: text.default('.env'),
        keys: stringList.default(['SECRET_KEY', 'ENCRYPTION_KEY']),
        keep_previous: z.boolean({ error: 'expected true or false' }).default(true),
        evidence_dir: text.default('./evidence'),
      })
      .strict()
      .prefault({}),
    service: z
      .object({
        stop: text.default('docker-compose down'),
        start: text.default('docker-compose up -d'),
        migrate: text.default('docker-compose exec -T backend alembic upgrade head'),
        logs: text.default('docker-compose logs'),
        isolate: stringList.default(['ufw deny from any to any port 7000', 'ufw deny from any to any port 7001']),
        timeout: duration.prefault('5m'),
        // The only variables of the bot's environment that service commands inherit.
        env: z.array(serviceEnvName, { error: 'expected a list of environment variable names' }).default(['PATH', 'HOME', 'LANG']),
      })
      .strict()
      .prefault({}),
    slack: z
      .object({
        channels: z
          .object({
            critical: text.default('#dr-critical'),
            warning: text.default('#dr-warnings'),
            stakeholders: text.default('#dr-stakeholders'),
            security: text.default('#security-incidents'),
          })
          .strict()
          .prefault({}),
        roles: z
          .object({ operators: stringList.default([]), approvers: stringList.default([]), security: stringList.default([]) })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    gates: z
      .object({ restore: gate(1, '15m'), isolate: gate(0, '5m'), 'rotate-secrets': gate(1, '15m') })
      .strict()
      .prefault({}),
    alerts: z
      .object({
        thresholds: z
          .object({
            storage_used_pct: positiveNumber.max(100, { error: 'expected a percentage up to 100' }).default(90),
            api_error_rate_pct: positiveNumber.max(100, { error: 'expected a percentage up to 100' }).default(5),
            latency_p95_s: positiveNumber.default(2),
            failed_logins_10m: positiveInt.default(20),
          })
          .strict()
          .prefault({}),
        metrics: z
          .object({
            requests_total: text.default('http_requests_total'),
            status_label: text.default('status'),
            latency_histogram: text.default('http_request_duration_seconds'),
            failed_logins_total: text.default('auth_failed_logins_total'),
          })
          .strict()
          .prefault({}),
        repeat: duration.prefault('4h'),
      })
      .strict()
      .prefault({}),
    escalation: z.object({ after: duration.prefault('30m') }).strict().prefault({}),
    contacts: z
      .object({ dba: text.optional(), security: text.optional(), management: text.optional() })
      .strict()
      .prefault({}),
    email: z.object({ smtp_url: text, from: text, to: stringList.min(1, { error: 'expected at least one address' }) }).strict().optional(),
    probes: z.object({ timeout: duration.prefault('5s') }).strict().prefault({}),
  })
  .strict();

/** dr.yml after validation and defaults (durations in ms). */
export type ConfigFile = z.output<typeof configFileSchema>;
