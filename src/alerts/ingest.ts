// Parsers for the two alert intake routes of DESIGN.md §4: `POST /alerts/alertmanager` (Alertmanager's
// webhook, payload version "4") and `POST /alerts` (one alert as JSON). Pure: no I/O, no clock. Anything
// that does not fit throws DrError('ALERT_INVALID') whose message names the field and the problem in a
// few words, short and safe to send back in a 400 body: it never echoes values, and clips names.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { DrError } from '../domain/errors.ts';

/** One alert as it arrives from either intake route, before alert state and routing see it. */
export interface IncomingAlert {
  /** Deduplication key: Alertmanager's own fingerprint, or {@link alertFingerprint} for `POST /alerts`. */
  fingerprint: string;
  /** The alert's name: Alertmanager's `alertname` label, or the `alert` field of `POST /alerts`. */
  alert: string;
  severity: 'critical' | 'warning';
  status: 'firing' | 'resolved';
  /** One line for humans, at most {@link ALERT_LIMITS}.summaryChars characters. */
  summary: string;
  /** All labels (Alertmanager's include `alertname` and `severity`), keys sorted. */
  labels: Record<string, string>;
  /** When it started, as an ISO-8601 UTC time (Alertmanager only). */
  startsAt?: string;
  /** When it ended, as an ISO-8601 UTC time: resolved Alertmanager alerts only (see `endsAtOf`). */
  endsAt?: string;
  source: 'alertmanager' | 'http';
  /** Alertmanager's `generatorURL` (the Prometheus graph of the rule), when it is an http(s) URL. */
  link?: string;
  /** The `runbook_url` annotation, when it is an http(s) URL. */
  runbookUrl?: string;
  /** The webhook's `externalURL` (the Alertmanager that sent it), when it is an http(s) URL. */
  alertmanagerUrl?: string;
  /** The webhook's `truncatedAlerts`, when Alertmanager left alerts out of it. */
  truncatedAlerts?: number;
  /** The webhook's `groupKey`, when it has one. */
  groupKey?: string;
  /** Alertmanager's `groupKey` of the webhook (absent when it sent none): the group pages as one incident. */
  group?: string;
}

/** A parsed Alertmanager webhook: its alerts, and how many Alertmanager left out of it. */
export interface AlertmanagerBatch {
  alerts: IncomingAlert[];
  /** Alertmanager's `truncatedAlerts`: alerts of this group it dropped because of the receiver's `max_alerts`. */
  truncated: number;
  /** Alertmanager's key of the alert group: it pages as one PagerDuty incident (alerts dedupe by their own fingerprints). */
  groupKey: string;
  receiver: string;
}

/**
 * Bounds on what the intake accepts. The batch bound keeps one request from monopolising the bot; set
 * `max_alerts` (≤ alertsPerWebhook) in Alertmanager's webhook_config so Alertmanager truncates instead.
 * Label bounds keep alert state and Slack messages bounded; the summary is clipped, not refused.
 */
export const ALERT_LIMITS = {
  alertsPerWebhook: 10_000,
  labels: 64,
  labelKeyChars: 128,
  labelValueChars: 1_024,
  summaryChars: 1_000,
  linkChars: 2_048,
} as const;

/** What `POST /alerts` accepts as an alert name: a catalog-style snake_case identifier. */
export const ALERT_NAME_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

// Alertmanager sends Go's zero time for "not set" (e.g. endsAt of a firing alert from Prometheus).
const GO_ZERO_TIME_YEAR = 1;
// Names in error messages are clipped so a hostile key cannot make the 400 body large.
const NAME_CHARS_IN_MESSAGES = 40;

const labelsSchema = z.record(z.string(), z.string().max(ALERT_LIMITS.labelValueChars)).superRefine((labels, ctx) => {
  const keys = Object.keys(labels);
  if (keys.length > ALERT_LIMITS.labels) {
    ctx.addIssue({ code: 'custom', message: `at most ${ALERT_LIMITS.labels} labels, got ${keys.length}` });
  }
  for (const key of keys) {
    if (key.length === 0) ctx.addIssue({ code: 'custom', path: [key], message: 'label names must not be empty' });
    if (key.length > ALERT_LIMITS.labelKeyChars) {
      ctx.addIssue({ code: 'custom', path: [key], message: `label names are at most ${ALERT_LIMITS.labelKeyChars} characters` });
    }
  }
});

const timeSchema = z.iso.datetime({ offset: true, error: 'expected an RFC 3339 time' });

// Alertmanager objects are loose on purpose: newer Alertmanagers and compatible senders (Grafana, Mimir)
// add fields, and refusing a webhook over an extra field would drop real alerts.
const alertmanagerAlertSchema = z.looseObject({
  status: z.enum(['firing', 'resolved']),
  labels: labelsSchema.superRefine((labels, ctx) => {
    if (!Object.hasOwn(labels, 'alertname')) ctx.addIssue({ code: 'custom', path: ['alertname'], message: 'missing (every alert needs an alertname label)' });
    else if (labels.alertname === '') ctx.addIssue({ code: 'custom', path: ['alertname'], message: 'must not be empty' });
  }),
  annotations: z.record(z.string(), z.string()).optional(),
  startsAt: timeSchema.optional(),
  endsAt: timeSchema.optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().regex(/^[0-9a-f]{1,64}$/i, 'expected a hex fingerprint'),
});

// Field order matters: the first issue is the one reported, and a wrong `version` explains the rest.
const alertmanagerWebhookSchema = z.looseObject({
  version: z.literal('4'),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string(),
  // Each alert is validated on its own (parseAlertmanagerBatch): a 10,000-alert storm is never copied whole.
  alerts: z.array(z.unknown()).max(ALERT_LIMITS.alertsPerWebhook),
  groupKey: z.string().optional(),
  groupLabels: z.record(z.string(), z.string()).optional(),
  commonLabels: z.record(z.string(), z.string()).optional(),
  commonAnnotations: z.record(z.string(), z.string()).optional(),
  externalURL: z.string().optional(),
  // Alertmanager < 0.21 did not send it; absent means nothing was truncated.
  truncatedAlerts: z.number().int().min(0).optional(),
});

// Strict: `POST /alerts` is our own contract, and a misspelt key (`lables`) should fail loudly.
const httpAlertSchema = z.strictObject({
  alert: z.string().regex(ALERT_NAME_PATTERN, 'expected a lowercase name of letters, digits and _ (at most 64, starting with a letter)'),
  severity: z.enum(['critical', 'warning']),
  status: z.enum(['firing', 'resolved']),
  summary: z.string().refine((summary) => summary.trim() !== '', 'must not be empty'),
  labels: labelsSchema.optional(),
});

/**
 * Parses an Alertmanager webhook (payload version "4") into its alerts; throws DrError ALERT_INVALID.
 * Severity comes from the `severity` label, see {@link severityFromLabel}.
 */
export function parseAlertmanagerBatch(body: unknown): AlertmanagerBatch {
  // Checked before zod so a huge batch is refused without validating every alert in it first.
  const rawAlerts = isRecord(body) ? body.alerts : undefined;
  if (Array.isArray(rawAlerts) && rawAlerts.length > ALERT_LIMITS.alertsPerWebhook) {
    throw invalid(
      `alerts: at most ${ALERT_LIMITS.alertsPerWebhook} alerts per webhook, got ${rawAlerts.length}`,
      `set max_alerts: ${ALERT_LIMITS.alertsPerWebhook} (or less) in Alertmanager's webhook_config`,
    );
  }
  const hint = 'POST /alerts/alertmanager takes an Alertmanager webhook, payload version "4"';
  const parsed = alertmanagerWebhookSchema.safeParse(body);
  if (!parsed.success) throw invalidFromIssues(parsed.error.issues, body, hint);
  const webhook = parsed.data;
  const alertmanagerUrl = httpLink(webhook.externalURL);
  const truncated = webhook.truncatedAlerts ?? 0;
  const webhookDetails: WebhookDetails = {
    ...(alertmanagerUrl === undefined ? {} : { alertmanagerUrl }),
    ...(truncated > 0 ? { truncatedAlerts: truncated } : {}),
    ...(webhook.groupKey ? { groupKey: webhook.groupKey } : {}),
  };
  const group = webhook.groupKey === undefined || webhook.groupKey === '' ? undefined : webhook.groupKey;
  // Alert by alert: zod's copy of one alert is garbage as soon as it is turned into an IncomingAlert.
  const issues: z.core.$ZodIssue[] = [];
  const alerts: IncomingAlert[] = [];
  webhook.alerts.forEach((raw, index) => {
    const one = alertmanagerAlertSchema.safeParse(raw);
    if (one.success) alerts.push(incomingFromAlertmanager(one.data, group, webhookDetails));
    else for (const issue of one.error.issues) issues.push({ ...issue, path: ['alerts', index, ...issue.path] });
  });
  if (issues.length > 0) throw invalidFromIssues(issues, body, hint);
  return {
    alerts,
    truncated: webhook.truncatedAlerts ?? 0,
    groupKey: webhook.groupKey ?? '',
    receiver: webhook.receiver,
  };
}

/** What a webhook says about all its alerts: the sending Alertmanager, how many alerts it cut, its group. */
type WebhookDetails = Pick<IncomingAlert, 'alertmanagerUrl' | 'truncatedAlerts' | 'groupKey'>;

function incomingFromAlertmanager(alert: z.infer<typeof alertmanagerAlertSchema>, group: string | undefined, details: WebhookDetails): IncomingAlert {
  const alertname = alert.labels.alertname ?? '';
  const annotations = alert.annotations ?? {};
  const startsAt = normalizeTime(alert.startsAt);
  const endsAt = alert.status === 'resolved' ? normalizeTime(alert.endsAt) : undefined;
  const link = httpLink(alert.generatorURL);
  const runbookUrl = httpLink(annotations.runbook_url);
  return {
    fingerprint: alert.fingerprint.toLowerCase(),
    alert: alertname,
    severity: severityFromLabel(alert.labels.severity),
    status: alert.status,
    summary: clipText(firstText(annotations.summary, annotations.description) ?? alertname, ALERT_LIMITS.summaryChars),
    labels: sortedLabels(alert.labels),
    ...(startsAt === undefined ? {} : { startsAt }),
    ...(endsAt === undefined ? {} : { endsAt }),
    source: 'alertmanager',
    ...(link === undefined ? {} : { link }),
    ...(runbookUrl === undefined ? {} : { runbookUrl }),
    ...details,
    ...(group === undefined ? {} : { group }),
  };
}

/** The alerts of an Alertmanager webhook (version "4"); throws DrError ALERT_INVALID. See parseAlertmanagerBatch. */
export function parseAlertmanagerWebhook(body: unknown): IncomingAlert[] {
  return parseAlertmanagerBatch(body).alerts;
}

/** Parses the body of `POST /alerts`: `{alert, severity, status, summary, labels?}`; throws DrError ALERT_INVALID. */
export function parseAlertJson(body: unknown): IncomingAlert {
  const parsed = httpAlertSchema.safeParse(body);
  if (!parsed.success) throw invalidFromIssues(parsed.error.issues, body, 'POST /alerts takes {alert, severity: critical|warning, status: firing|resolved, summary, labels?}');
  const { alert, severity, status, summary, labels = {} } = parsed.data;
  return {
    fingerprint: alertFingerprint(alert, labels),
    alert,
    severity,
    status,
    summary: clipText(summary.trim(), ALERT_LIMITS.summaryChars),
    labels: sortedLabels(labels),
    source: 'http',
  };
}

/**
 * Fingerprint of a `POST /alerts` alert: first 16 hex digits of SHA-256 over the name and the labels
 * sorted by key, JSON-encoded so `{a: "b,c"}` and `{a: "b", c: ""}` cannot collide. Severity and status
 * are left out on purpose: a warning that turns critical, or fires again, is the same alert.
 */
export function alertFingerprint(alert: string, labels: Readonly<Record<string, string>>): string {
  const canonical = JSON.stringify([alert, Object.entries(sortedLabels(labels))]);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/**
 * Severity from Alertmanager's `severity` label, case-insensitive: `critical`, `error` and `page` page
 * (critical); `warning`, `info`, `none`, a missing label and any other value only post (warning). The
 * unknown-means-warning default follows the common Prometheus convention that only an explicit
 * critical/page label wakes someone; the original label stays in `labels` for the message.
 */
export function severityFromLabel(label: string | undefined): 'critical' | 'warning' {
  const value = label?.trim().toLowerCase();
  return value === 'critical' || value === 'error' || value === 'page' ? 'critical' : 'warning';
}

/** Shortens text to at most `max` characters, ending with "…" when cut, never splitting a surrogate pair. */
export function clipText(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, Math.max(0, max - 1));
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}

function firstText(...candidates: Array<string | undefined>): string | undefined {
  return candidates.map((candidate) => candidate?.trim()).find((candidate) => candidate !== undefined && candidate !== '');
}

// Code-unit order, not localeCompare: the fingerprint must not depend on the host's locale.
function sortedLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function normalizeTime(time: string | undefined): string | undefined {
  if (time === undefined) return undefined;
  const date = new Date(time);
  if (Number.isNaN(date.getTime()) || date.getUTCFullYear() <= GO_ZERO_TIME_YEAR) return undefined;
  return date.toISOString();
}

// The link is shown in Slack: only http(s), and a bad or empty generatorURL drops the link, not the alert.
function httpLink(url: string | undefined): string | undefined {
  if (url === undefined || url === '' || url.length > ALERT_LIMITS.linkChars) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(message: string, hint: string): DrError {
  return new DrError('ALERT_INVALID', message, { hint });
}

function invalidFromIssues(issues: readonly z.core.$ZodIssue[], body: unknown, hint: string): DrError {
  const [first] = issues;
  if (first === undefined) return invalid('body: not a valid alert payload', hint);
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  return invalid(`${describeIssue(first, body)}${more}`, hint);
}

function describeIssue(issue: z.core.$ZodIssue, body: unknown): string {
  const where = formatPath(issue.path);
  switch (issue.code) {
    case 'invalid_type': {
      const expected = `expected ${withArticle(issue.expected)}`;
      if (issue.path.length === 0) return `body: ${expected === 'expected an object' ? 'expected a JSON object' : expected}, got ${kindOf(body)}`;
      const got = valueAt(body, issue.path);
      return got === undefined ? `${where}: missing (${expected})` : `${where}: ${expected}, got ${kindOf(got)}`;
    }
    case 'invalid_value':
      return `${where}: expected ${issue.values.map((value) => JSON.stringify(value)).join(' or ')}`;
    case 'unrecognized_keys': {
      const [key = ''] = issue.keys;
      const others = issue.keys.length > 1 ? ` (and ${issue.keys.length - 1} more)` : '';
      return `${formatPath([...issue.path, key])}: unknown key${others}`;
    }
    case 'too_big': {
      const unit = issue.origin === 'string' ? ' characters' : issue.origin === 'array' ? ' items' : '';
      return `${where}: at most ${String(issue.maximum)}${unit}`;
    }
    case 'too_small': {
      const unit = issue.origin === 'string' ? ' characters' : issue.origin === 'array' ? ' items' : '';
      return `${where}: at least ${String(issue.minimum)}${unit}`;
    }
    default:
      // Our own messages (custom checks, regex and format errors): they never contain the input.
      return `${where}: ${issue.message}`;
  }
}

/**
 * `alerts[2].labels.alertname`. Other keys are quoted, clipped, and stripped of markup-ish characters
 * (`<script>` becomes `?script?`) so the message stays short and inert wherever it is echoed.
 */
function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return 'body';
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(segment) && segment.length <= NAME_CHARS_IN_MESSAGES) {
      text += text === '' ? segment : `.${segment}`;
    } else text += `[${JSON.stringify(clipText(String(segment).replace(/[^\w .:/-]/g, '?'), NAME_CHARS_IN_MESSAGES))}]`;
  }
  return text;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const segment of path) {
    if (typeof value !== 'object' || value === null || typeof segment === 'symbol') return undefined;
    value = (value as Record<string | number, unknown>)[segment];
  }
  return value;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return withArticle(typeof value);
}

function withArticle(type: string): string {
  const name = type === 'record' ? 'object' : type === 'int' ? 'integer' : type;
  return /^[aeiou]/.test(name) ? `an ${name}` : `a ${name}`;
}
