import { createHash } from 'node:crypto';
import type { BackupManifest } from '../backup/manifest.ts';
import { retentionViolations, type RetentionPolicy } from '../backup/retention.ts';
import { formatDuration } from '../config/duration.ts';
import type { AlertSeverity, AlertSignal } from '../domain/alert.ts';
import { errorText } from '../domain/errors.ts';
import { formatBytes } from '../domain/format.ts';
import type { DmsDatabase, DmsEndpoints, DocumentStore, HealthFacts, StorageFacts } from '../ports/dms.ts';
import type { StateStore } from '../ports/state-store.ts';
import { withDeadline } from '../procedures/deadline.ts';
import { componentState } from '../procedures/status.ts';
import { guardStuck } from '../procedures/stuck-guard.ts';
import { parseExposition, promNumber, type Exposition } from './metric-samples.ts';

/** The catalog alerts a probe cycle judges (DESIGN.md §7); backup_job_failure comes from the engine instead. */
export const PROBE_ALERTS = [
  'db_connection_failure',
  'health_endpoint_down',
  'storage_capacity',
  'api_error_rate',
  'latency_p95',
  'failed_login_spike',
  'rpo_breach',
  'retention_violation',
] as const;

/** One of the alerts a probe cycle judges. */
export type ProbeAlert = (typeof PROBE_ALERTS)[number];

const SEVERITY: Record<ProbeAlert, AlertSeverity> = {
  db_connection_failure: 'critical',
  health_endpoint_down: 'critical',
  storage_capacity: 'critical',
  api_error_rate: 'critical',
  latency_p95: 'warning',
  failed_login_spike: 'warning',
  rpo_breach: 'critical',
  retention_violation: 'warning',
};

// Labels shown on the alert; category=security also routes to the security channel (router.ts).
const LABELS: Record<ProbeAlert, Record<string, string>> = {
  db_connection_failure: { component: 'database' },
  health_endpoint_down: { component: 'health' },
  storage_capacity: { component: 'storage' },
  api_error_rate: { component: 'api' },
  latency_p95: { component: 'api' },
  failed_login_spike: { component: 'auth', category: 'security' },
  rpo_breach: { component: 'backups' },
  retention_violation: { component: 'backups' },
};

/** How far back failed logins are counted (`alerts.thresholds.failed_logins_10m`). */
export const FAILED_LOGIN_WINDOW_MS = 10 * 60_000;
/** Error rate and p95 latency are judged over this window, as `rate(…[5m])` would (DESIGN.md §7). */
export const RATE_WINDOW_MS = 5 * 60_000;

// The RPO warning level (DESIGN.md §7: "warning at 80 %").
const RPO_WARNING_FRACTION = 0.8;

// Scrapes kept at most, whatever the interval: the failed-login window needs about eleven at one a minute.
const MAX_KEPT_SCRAPES = 1_000;

/** `alerts.thresholds`, in the units the probes measure. */
export interface ProbeThresholds {
  storageUsedPct: number;
  apiErrorRatePct: number;
  latencyP95S: number;
  failedLogins10m: number;
}

/** `alerts.metrics`: names in the DMS's Prometheus exposition. */
export interface ProbeMetricNames {
  requestsTotal: string;
  statusLabel: string;
  latencyHistogram: string;
  failedLoginsTotal: string;
}

/** What one probe cycle needs; `memory` carries the previous scrapes from one cycle to the next. */
export interface ProbeCycleDeps {
  systemName: string;
  database: DmsDatabase;
  storage: DocumentStore;
  endpoints: DmsEndpoints;
  /** The backup catalog (newest first). */
  catalog: Pick<StateStore, 'listCatalog'>;
  thresholds: ProbeThresholds;
  metricNames: ProbeMetricNames;
  rpoMs: number;
  retention: RetentionPolicy;
  timeZone: string;
  /** `probes.timeout`: each probe's own deadline. */
  probeTimeoutMs: number;
  now: () => Date;
  memory: ProbeMemory;
  /** Told when an alert could not be judged this cycle, so the cause can be logged; `routine` for a first scrape or a DMS restart, not a fault. */
  onNoVerdict?: (alert: ProbeAlert, reason: string, routine: boolean) => void;
}

type SeriesMap = Map<string, { labels: Record<string, string>; value: number }>;

/** One scrape as kept between cycles: when it answered, and the series of the watched families (absent: not in the exposition). */
interface KeptScrape {
  at: number;
  requests: SeriesMap | undefined;
  buckets: SeriesMap | undefined;
  failedLogins: SeriesMap | undefined;
}

/** What a probe cycle keeps between passes: recent scrapes (counters need two) and the storage probe's hang guard. */
export class ProbeMemory {
  /** Oldest first, trimmed to what the failed-login window still needs. */
  readonly scrapes: KeptScrape[] = [];
  /** The storage probe behind its hang guard, made by the first cycle. */
  storageProbe: ((signal: AbortSignal) => Promise<StorageFacts>) | undefined;

  /** Keeps a scrape, and forgets the ones no comparison will use again. */
  keep(scrape: KeptScrape): void {
    this.scrapes.push(scrape);
    const horizon = scrape.at - FAILED_LOGIN_WINDOW_MS;
    // The newest scrape at least a window old is the next baseline; anything before it is done with.
    let firstNeeded = 0;
    this.scrapes.forEach((kept, index) => {
      if (kept.at <= horizon) firstNeeded = index;
    });
    this.scrapes.splice(0, Math.max(firstNeeded, this.scrapes.length - MAX_KEPT_SCRAPES));
  }
}

/** The stable fingerprint of a probe alert: its firing and resolved signals share it (the RPO warning level has its own). */
export function probeFingerprint(alert: ProbeAlert, level?: 'warning'): string {
  return createHash('sha256').update(level ? `probe\0${alert}\0${level}` : `probe\0${alert}`).digest('hex').slice(0, 16);
}

type Settled<T> = { ok: true; value: T; ms: number } | { ok: false; error: string; ms: number };

/** A judgement of one alert: a signal to send, or why there is none this cycle. */
type Verdict =
  | { alert: ProbeAlert; status: 'firing' | 'resolved'; summary: string; severity?: AlertSeverity; level?: 'warning' }
  | { alert: ProbeAlert; noVerdict: string; routine: boolean };

/**
 * One pass over the probe alerts of the catalog (DESIGN.md §7): database, health endpoint, storage, the
 * DMS's metrics and the backup catalog are each probed at once under their own deadline, so a hung one
 * costs at most `probes.timeout` and never delays the others. Every alert that could be judged yields a
 * firing or resolved signal under its stable fingerprint; resolving an alert that is not open changes nothing.
 */
export async function runProbeCycle(deps: ProbeCycleDeps): Promise<AlertSignal[]> {
  const memory = deps.memory;
  // statfs on a hung mount never returns: at most one such call at a time, across cycles.
  memory.storageProbe ??= guardStuck('storage', (signal) => deps.storage.probe(signal));
  const storageProbe = memory.storageProbe;
  const [database, health, storage, scrape, catalog] = await Promise.all([
    settle(deps.probeTimeoutMs, (signal) => deps.database.ping(signal)),
    settle(deps.probeTimeoutMs, (signal) => deps.endpoints.health(signal)),
    settle(deps.probeTimeoutMs, (signal) => storageProbe(signal)),
    settle(deps.probeTimeoutMs, async (signal) => ({ exposition: parseExposition(await deps.endpoints.scrape(signal)), at: deps.now().getTime() })),
    settle(deps.probeTimeoutMs, () => deps.catalog.listCatalog({ kind: 'db' })),
  ]);
  const now = deps.now();
  const verdicts: Verdict[] = [
    judgeDatabase(deps, database, health),
    judgeHealth(health),
    judgeStorage(deps, storage),
    ...judgeMetrics(deps, scrape),
    ...judgeCatalog(deps, catalog, now),
  ];
  const signals: AlertSignal[] = [];
  for (const verdict of verdicts) {
    if ('noVerdict' in verdict) {
      deps.onNoVerdict?.(verdict.alert, verdict.noVerdict, verdict.routine);
      continue;
    }
    signals.push({
      fingerprint: probeFingerprint(verdict.alert, verdict.level),
      alert: verdict.alert,
      severity: verdict.severity ?? SEVERITY[verdict.alert],
      status: verdict.status,
      summary: verdict.summary,
      labels: { system: deps.systemName, ...LABELS[verdict.alert] },
      source: 'probe',
    });
  }
  return signals;
}

async function settle<T>(deadlineMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<Settled<T>> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  try {
    const value = await withDeadline(deadlineMs, work);
    return { ok: true, value, ms: ms() };
  } catch (error) {
    return { ok: false, error: errorText(error), ms: ms() };
  }
}

const firing = (alert: ProbeAlert, summary: string): Verdict => ({ alert, status: 'firing', summary });
const resolved = (alert: ProbeAlert, summary: string): Verdict => ({ alert, status: 'resolved', summary });
const noVerdict = (alert: ProbeAlert, reason: string): Verdict => ({ alert, noVerdict: reason, routine: reason === FIRST_SCRAPE || reason === RESTARTED });

function isDatabaseComponent(name: string): boolean {
  return /^(database|db)$/i.test(name);
}

function judgeDatabase(deps: ProbeCycleDeps, ping: Settled<void>, health: Settled<HealthFacts>): Verdict {
  const reported = health.ok ? Object.entries(health.value.components).find(([name]) => isDatabaseComponent(name))?.[1] : undefined;
  const problems: string[] = [];
  if (!ping.ok) problems.push(`${deps.database.location} does not answer: ${ping.error}`);
  if (reported && componentState(reported.status) === 'fail') {
    problems.push(`the health endpoint reports the database ${reported.status}${reported.detail ? ` (${reported.detail})` : ''}`);
  }
  if (problems.length > 0) return firing('db_connection_failure', problems.join('; '));
  const seenByHealth = reported ? `; the health endpoint reports it ${reported.status}` : '';
  return resolved('db_connection_failure', `${deps.database.location} answered in ${ping.ms} ms${seenByHealth}`);
}

function judgeHealth(health: Settled<HealthFacts>): Verdict {
  if (!health.ok) return firing('health_endpoint_down', `health endpoint down: ${health.error}`);
  const facts = health.value;
  const answered = `health endpoint answered HTTP ${facts.httpStatus} (${facts.status}) in ${health.ms} ms`;
  if (facts.httpStatus >= 200 && facts.httpStatus < 300) return resolved('health_endpoint_down', answered);
  const failing = Object.entries(facts.components).filter(([, component]) => componentState(component.status) === 'fail');
  // A 503 that only says the database is down is db_connection_failure's page; a second critical page adds nothing.
  if (failing.length > 0 && failing.every(([name]) => isDatabaseComponent(name))) {
    return resolved('health_endpoint_down', `${answered}: the endpoint works and reports only the database down (db_connection_failure)`);
  }
  const why = failing.map(([name, component]) => `${name} ${component.status}${component.detail ? ` (${component.detail})` : ''}`);
  return firing('health_endpoint_down', `${answered}${why.length ? `: ${why.join(', ')}` : ''}`);
}

function judgeStorage(deps: ProbeCycleDeps, storage: Settled<StorageFacts>): Verdict {
  if (!storage.ok) return noVerdict('storage_capacity', `storage probe failed: ${storage.error}`);
  const facts = storage.value;
  if (facts.kind === 's3') return resolved('storage_capacity', `documents in S3 bucket ${facts.bucket}: no filesystem to fill`);
  const limit = deps.thresholds.storageUsedPct;
  const used = `uploads filesystem ${facts.usedPct.toFixed(1)} % used, ${formatBytes(facts.freeBytes)} free at ${facts.path} (threshold ${limit} %)`;
  return facts.usedPct > limit ? firing('storage_capacity', used) : resolved('storage_capacity', used);
}

/** The three metrics alerts from this scrape and the kept ones; the scrape is kept for the next cycle. */
function judgeMetrics(deps: ProbeCycleDeps, scrape: Settled<{ exposition: Exposition; at: number }>): Verdict[] {
  const metricsAlerts = ['api_error_rate', 'latency_p95', 'failed_login_spike'] as const;
  // A failed scrape leaves the kept ones alone: the next good one is compared over a longer window.
  if (!scrape.ok) return metricsAlerts.map((alert) => noVerdict(alert, `metrics endpoint: ${scrape.error}`));
  const names = deps.metricNames;
  const current: KeptScrape = {
    at: scrape.value.at,
    requests: family(scrape.value.exposition, names.requestsTotal),
    buckets: family(scrape.value.exposition, `${names.latencyHistogram}_bucket`, names.latencyHistogram),
    failedLogins: family(scrape.value.exposition, names.failedLoginsTotal),
  };
  const kept = [...deps.memory.scrapes];
  deps.memory.keep(current);
  return [judgeErrorRate(deps, kept, current), judgeLatency(deps, kept, current), judgeFailedLogins(deps, kept, current)];
}

/** The series of one family, keyed by their labels; undefined when the exposition does not know the family at all. */
function family(exposition: Exposition, name: string, declaredAs = name): SeriesMap | undefined {
  if (!exposition.names.has(name) && !exposition.names.has(declaredAs)) return undefined;
  const series: SeriesMap = new Map();
  for (const sample of exposition.samples) {
    // A NaN counter says nothing; leaving it out keeps every comparison below on real numbers.
    if (sample.name !== name || Number.isNaN(sample.value)) continue;
    series.set(labelKey(sample.labels), { labels: sample.labels, value: sample.value });
  }
  return series;
}

function labelKey(labels: Record<string, string>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** How much each series of a counter grew between two scrapes; `reset` when one went down or vanished (the DMS restarted). */
type CounterDelta =
  | { kind: 'increase'; series: Array<{ labels: Record<string, string>; increase: number }> }
  | { kind: 'reset' }
  | { kind: 'missing' };

/** Increase of every series from `before` to `after`; a series new in `after` grew from zero (labelled counters appear on first use). */
function counterDelta(before: SeriesMap | undefined, after: SeriesMap | undefined): CounterDelta {
  if (!before || !after) return { kind: 'missing' };
  for (const [key, old] of before) {
    const now = after.get(key);
    if (!now || now.value < old.value) return { kind: 'reset' };
  }
  return { kind: 'increase', series: [...after].map(([key, now]) => ({ labels: now.labels, increase: now.value - (before.get(key)?.value ?? 0) })) };
}

const FIRST_SCRAPE = 'first scrape of the DMS metrics: a rate needs a second one';
const RESTARTED = 'a counter went down (the DMS restarted): no verdict until the next scrape';
const AFTER_GAP = 'the metrics were not scraped for a while: a rate needs a second scrape since';

function missingMetric(name: string, key: string): string {
  return `metric ${name} is not in the DMS's exposition (alerts.metrics.${key})`;
}

function judgeErrorRate(deps: ProbeCycleDeps, kept: readonly KeptScrape[], current: KeptScrape): Verdict {
  const { requestsTotal, statusLabel } = deps.metricNames;
  if (!current.requests) return noVerdict('api_error_rate', missingMetric(requestsTotal, 'requests_total'));
  const baseline = windowBaseline(kept, current, RATE_WINDOW_MS, (scrape) => scrape.requests);
  if (typeof baseline === 'string') return noVerdict('api_error_rate', baseline);
  const delta = counterDelta(baseline.requests, current.requests);
  if (delta.kind === 'missing') return noVerdict('api_error_rate', FIRST_SCRAPE);
  if (delta.kind === 'reset') return noVerdict('api_error_rate', RESTARTED);
  const window = seconds(current.at - baseline.at);
  const total = sum(delta.series.map((s) => s.increase));
  const limit = deps.thresholds.apiErrorRatePct;
  // No traffic, no errors: Prometheus's 0/0 is no result, and an alert with no result resolves.
  if (total === 0) return resolved('api_error_rate', `no requests over ${window} (threshold ${limit} % 5xx)`);
  const errors = sum(delta.series.filter((s) => /^5/.test(s.labels[statusLabel] ?? '')).map((s) => s.increase));
  const pct = (errors / total) * 100;
  const measured = `5xx ${pct.toFixed(1)} % of ${count(total)} requests over ${window} (threshold ${limit} %)`;
  return pct > limit ? firing('api_error_rate', measured) : resolved('api_error_rate', measured);
}

function judgeLatency(deps: ProbeCycleDeps, kept: readonly KeptScrape[], current: KeptScrape): Verdict {
  const name = deps.metricNames.latencyHistogram;
  if (!current.buckets) return noVerdict('latency_p95', missingMetric(name, 'latency_histogram'));
  const baseline = windowBaseline(kept, current, RATE_WINDOW_MS, (scrape) => scrape.buckets);
  if (typeof baseline === 'string') return noVerdict('latency_p95', baseline);
  const delta = counterDelta(baseline.buckets, current.buckets);
  if (delta.kind === 'missing') return noVerdict('latency_p95', FIRST_SCRAPE);
  if (delta.kind === 'reset') return noVerdict('latency_p95', RESTARTED);
  // sum by (le): every method and path together, as `histogram_quantile(0.95, sum by (le) (rate(…)))`.
  const byBound = new Map<number, number>();
  for (const series of delta.series) {
    if (series.labels.le === undefined) continue;
    const bound = promNumber(series.labels.le);
    if (Number.isNaN(bound)) continue;
    byBound.set(bound, (byBound.get(bound) ?? 0) + series.increase);
  }
  const buckets = [...byBound].map(([le, cumulative]) => ({ le, count: cumulative }));
  const window = seconds(current.at - baseline.at);
  const limit = deps.thresholds.latencyP95S;
  const observed = buckets.find((b) => b.le === Number.POSITIVE_INFINITY)?.count ?? 0;
  const p95 = histogramQuantile(0.95, buckets);
  if (observed === 0 || Number.isNaN(p95)) return resolved('latency_p95', `no requests over ${window} (threshold p95 ${limit} s)`);
  const measured = `p95 ${p95.toFixed(2)} s over ${count(observed)} requests in ${window} (threshold ${limit} s)`;
  return p95 > limit ? firing('latency_p95', measured) : resolved('latency_p95', measured);
}

/**
 * The scrape a counter's increase over the last `windowMs` is measured from: the newest kept scrape at least
 * that old, or until there is one the oldest (a shorter window, never a longer one); after a restart only the
 * scrapes since it count, as the counter started again from zero.
 */
function windowBaseline(kept: readonly KeptScrape[], current: KeptScrape, windowMs: number, series: (scrape: KeptScrape) => SeriesMap | undefined): KeptScrape | typeof FIRST_SCRAPE | typeof RESTARTED | typeof AFTER_GAP {
  const usable = kept.filter((s) => series(s));
  if (usable.length === 0) return FIRST_SCRAPE;
  const horizon = current.at - windowMs;
  let from = 0;
  usable.forEach((scrape, index) => {
    if (scrape.at <= horizon) from = index;
  });
  // After a gap in the scrapes (the endpoint was down), a baseline from long before would average the gap in.
  if (current.at - usable[from]!.at > 2 * windowMs) {
    if (from + 1 >= usable.length) return AFTER_GAP;
    from += 1;
  }
  const chain = [...usable.slice(from), current];
  let start = 0;
  for (let i = 1; i < chain.length; i += 1) {
    if (counterDelta(series(chain[i - 1]!), series(chain[i]!)).kind === 'reset') start = i;
  }
  return start === chain.length - 1 ? RESTARTED : chain[start]!;
}

function judgeFailedLogins(deps: ProbeCycleDeps, kept: readonly KeptScrape[], current: KeptScrape): Verdict {
  const name = deps.metricNames.failedLoginsTotal;
  if (!current.failedLogins) return noVerdict('failed_login_spike', missingMetric(name, 'failed_logins_total'));
  const baseline = windowBaseline(kept, current, FAILED_LOGIN_WINDOW_MS, (scrape) => scrape.failedLogins);
  if (typeof baseline === 'string') return noVerdict('failed_login_spike', baseline);
  const delta = counterDelta(baseline.failedLogins, current.failedLogins);
  if (delta.kind !== 'increase') return noVerdict('failed_login_spike', RESTARTED);
  const failed = sum(delta.series.map((s) => s.increase));
  const limit = deps.thresholds.failedLogins10m;
  const measured = `${count(failed)} failed login${failed === 1 ? '' : 's'} in the last ${seconds(current.at - baseline.at)} (threshold ${count(limit)} in 10 min)`;
  return failed > limit ? firing('failed_login_spike', measured) : resolved('failed_login_spike', measured);
}

/**
 * Prometheus's `histogram_quantile` over cumulative buckets (upper bound `le`, count of observations ≤ it):
 * the bucket holding the rank, and linear interpolation inside it; the lowest bucket starts at 0 and a rank
 * in the +Inf bucket answers the highest finite bound. NaN without a +Inf bucket, two buckets or observations.
 */
export function histogramQuantile(q: number, cumulative: ReadonlyArray<{ le: number; count: number }>): number {
  if (q < 0) return Number.NEGATIVE_INFINITY;
  if (q > 1) return Number.POSITIVE_INFINITY;
  const buckets = [...cumulative].sort((a, b) => a.le - b.le);
  if (buckets.at(-1)?.le !== Number.POSITIVE_INFINITY || buckets.length < 2) return Number.NaN;
  // Scrapes taken while requests finish can be off by a few: counts must not fall from one bucket to the next.
  for (let i = 1; i < buckets.length; i += 1) {
    const before = buckets[i - 1]!;
    const bucket = buckets[i]!;
    if (bucket.count < before.count) buckets[i] = { le: bucket.le, count: before.count };
  }
  const observations = buckets.at(-1)!.count;
  if (observations === 0) return Number.NaN;
  let rank = q * observations;
  const index = buckets.findIndex((b) => b.count >= rank);
  if (index === buckets.length - 1) return buckets[buckets.length - 2]!.le;
  const bucket = buckets[index]!;
  if (index === 0 && bucket.le <= 0) return bucket.le;
  let start = 0;
  let inBucket = bucket.count;
  if (index > 0) {
    const below = buckets[index - 1]!;
    start = below.le;
    inBucket -= below.count;
    rank -= below.count;
  }
  return start + (bucket.le - start) * (rank / inBucket);
}

/** rpo_breach (critical over the RPO, warning past 80 % of it) and retention_violation, from the catalog. */
function judgeCatalog(deps: ProbeCycleDeps, catalog: Settled<BackupManifest[]>, now: Date): Verdict[] {
  if (!catalog.ok) return (['rpo_breach', 'retention_violation'] as const).map((alert) => noVerdict(alert, `backup catalog unreadable: ${catalog.error}`));
  const verified = catalog.value.filter((m) => m.verified);
  return [...judgeRpo(deps, verified, now), judgeRetention(deps, verified, now)];
}

/**
 * The warning and the critical level are two alerts (two fingerprints): an open alert keeps the severity
 * it fired with, so a warning that grew critical must fire anew to reach the critical channel and page.
 */
function judgeRpo(deps: ProbeCycleDeps, verified: readonly BackupManifest[], now: Date): Verdict[] {
  const rpo = formatDuration(deps.rpoMs);
  const critical = (status: 'firing' | 'resolved', summary: string): Verdict => ({ alert: 'rpo_breach', status, summary });
  const warning = (status: 'firing' | 'resolved', summary: string): Verdict => ({ alert: 'rpo_breach', status, summary, severity: 'warning', level: 'warning' });
  // listCatalog answers newest first.
  const newest = verified[0];
  if (!newest) {
    const none = `no verified database backup at all: nothing to restore, the RPO of ${rpo} cannot be met`;
    return [critical('firing', none), warning('resolved', `now critical: ${none}`)];
  }
  const ageMs = Math.max(0, now.getTime() - Date.parse(newest.finished_at));
  const measured = `newest verified database backup ${newest.id} is ${formatDuration(ageMs)} old, ${Math.round((ageMs / deps.rpoMs) * 100)} % of the RPO of ${rpo}`;
  if (ageMs > deps.rpoMs) return [critical('firing', `${measured}: over it`), warning('resolved', `now critical: ${measured}`)];
  if (ageMs > RPO_WARNING_FRACTION * deps.rpoMs) {
    return [warning('firing', `${measured} (warning past ${RPO_WARNING_FRACTION * 100} %)`), critical('resolved', `${measured}: within it again`)];
  }
  return [critical('resolved', measured), warning('resolved', measured)];
}

function judgeRetention(deps: ProbeCycleDeps, verified: readonly BackupManifest[], now: Date): Verdict {
  // As `/dr backups` judges it: the database backups, verified ones only.
  const candidates = verified.map((m) => ({ id: m.id, finishedAt: m.finished_at }));
  const violations = retentionViolations(candidates, deps.retention, deps.timeZone, now);
  const policy = `daily ${deps.retention.daily}, weekly ${deps.retention.weekly}, monthly ${deps.retention.monthly}`;
  if (violations.length > 0) return firing('retention_violation', `database backups break the retention policy (${policy}): ${violations.join('; ')}`);
  const kept = candidates.length === 1 ? '1 verified database backup meets' : `${candidates.length} verified database backups meet`;
  return resolved('retention_violation', `${kept} the retention policy (${policy})`);
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function count(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function seconds(ms: number): string {
  return `${(ms / 1_000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}
