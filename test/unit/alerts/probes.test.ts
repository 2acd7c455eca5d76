import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStateStore } from '../../../src/adapters/state/kysely-store.ts';
import { startProbeCycle } from '../../../src/alerts/probe-schedule.ts';
import type { BackupManifest } from '../../../src/backup/manifest.ts';
import type { AlertSignal } from '../../../src/domain/alert.ts';
import { parseExposition } from '../../../src/alerts/metric-samples.ts';
import {
  FAILED_LOGIN_WINDOW_MS,
  histogramQuantile,
  PROBE_ALERTS,
  ProbeMemory,
  probeFingerprint,
  runProbeCycle,
  type ProbeAlert,
  type ProbeCycleDeps,
} from '../../../src/alerts/probes.ts';
import type { HealthFacts, StorageFacts } from '../../../src/ports/dms.ts';
import { captureLogs } from '../../helpers/logs.ts';

const START = Date.parse('2026-11-26T12:00:00Z');
const HOUR = 3_600_000;

/** One scrape's worth of the DMS's metrics, in prom-client's layout. */
interface Traffic {
  /** status → requests so far (one path). */
  requests?: Record<string, number>;
  /** Cumulative observations per bucket bound, for two label sets (GET and POST split the counts). */
  buckets?: Record<string, number>;
  failedLogins?: number;
}

const BOUNDS = ['0.1', '0.5', '1', '2', '2.5', '5', '+Inf'];

function exposition(traffic: Traffic): string {
  const lines = ['# HELP http_requests_total HTTP requests', '# TYPE http_requests_total counter'];
  for (const [status, value] of Object.entries(traffic.requests ?? {})) lines.push(`http_requests_total{method="GET",path="/api/v1/documents",status="${status}"} ${value}`);
  lines.push('# HELP http_request_duration_seconds request duration', '# TYPE http_request_duration_seconds histogram');
  for (const method of ['GET', 'POST']) {
    for (const le of BOUNDS) {
      // Half the observations each: the probe must add the label sets up per bound.
      const value = (traffic.buckets?.[le] ?? 0) / 2;
      lines.push(`http_request_duration_seconds_bucket{le="${le}",method="${method}"} ${value}`);
    }
  }
  lines.push('# HELP auth_failed_logins_total failed logins', '# TYPE auth_failed_logins_total counter', `auth_failed_logins_total ${traffic.failedLogins ?? 0}`);
  return lines.join('\n') + '\n';
}

function manifest(id: string, finishedAt: number, verified = true): BackupManifest {
  const iso = new Date(finishedAt).toISOString();
  return {
    format: 1,
    id,
    kind: 'db',
    started_at: iso,
    finished_at: iso,
    source: { engine: 'sqlite', location: 'sqlite:/srv/alphha.db' },
    files: [],
    size_bytes: 1024,
    tools: {},
    verified,
    verification: { integrity: 'ok', hashes_rechecked: true },
  };
}

const HEALTHY_HEALTH: HealthFacts = { httpStatus: 200, status: 'healthy', components: { database: { status: 'healthy' }, storage: { status: 'healthy' } } };
const LOCAL_STORAGE: StorageFacts = { kind: 'local', path: '/srv/uploads', usedPct: 40, freeBytes: 60 * 1024 ** 3, fileCount: 50, fileCountComplete: true };

/** A DMS whose answers a test changes between cycles, and a clock it moves. */
class FakeDms {
  now = START;
  ping: 'ok' | Error | 'hang' = 'ok';
  health: HealthFacts | Error = HEALTHY_HEALTH;
  storage: StorageFacts | Error = LOCAL_STORAGE;
  metrics: Traffic | Error = { requests: { '200': 0 }, buckets: {}, failedLogins: 0 };
  metricsText: string | undefined;
  catalog: BackupManifest[] = [manifest('db-recent', START - 10 * 60_000)];
  noVerdicts: Array<{ alert: ProbeAlert; reason: string; routine: boolean }> = [];

  deps(overrides: Partial<ProbeCycleDeps> = {}): ProbeCycleDeps {
    const answer = <T>(value: T | Error): Promise<T> => (value instanceof Error ? Promise.reject(value) : Promise.resolve(value));
    return {
      systemName: 'alphha-test',
      database: {
        location: 'sqlite:/srv/alphha.db',
        probe: () => Promise.reject(new Error('the probe cycle pings, it does not run the full probe')),
        ping: (signal) => {
          if (this.ping === 'hang') return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
          return this.ping === 'ok' ? Promise.resolve() : Promise.reject(this.ping);
        },
      },
      storage: { location: '/srv/uploads', probe: () => answer(this.storage) },
      endpoints: {
        health: () => answer(this.health),
        metrics: () => Promise.reject(new Error('not used')),
        scrape: () => (this.metrics instanceof Error ? Promise.reject(this.metrics) : Promise.resolve(this.metricsText ?? exposition(this.metrics))),
      },
      catalog: { listCatalog: async () => [...this.catalog].sort((a, b) => b.finished_at.localeCompare(a.finished_at)) },
      thresholds: { storageUsedPct: 90, apiErrorRatePct: 5, latencyP95S: 2, failedLogins10m: 20 },
      metricNames: { requestsTotal: 'http_requests_total', statusLabel: 'status', latencyHistogram: 'http_request_duration_seconds', failedLoginsTotal: 'auth_failed_logins_total' },
      rpoMs: HOUR,
      retention: { daily: 7, weekly: 4, monthly: 12 },
      timeZone: 'UTC',
      probeTimeoutMs: 200,
      now: () => new Date(this.now),
      memory: new ProbeMemory(),
      onNoVerdict: (alert, reason, routine) => void this.noVerdicts.push({ alert, reason, routine }),
      ...overrides,
    };
  }
}

const find = (signals: readonly AlertSignal[], alert: ProbeAlert) => signals.filter((s) => s.alert === alert);
const one = (signals: readonly AlertSignal[], alert: ProbeAlert): AlertSignal => {
  const found = find(signals, alert);
  expect(found).toHaveLength(1);
  return found[0]!;
};

describe('histogramQuantile (Prometheus histogram_quantile)', () => {
  const INF = Number.POSITIVE_INFINITY;

  it('interpolates linearly inside the bucket that holds the rank', () => {
    const buckets = [{ le: 0.1, count: 50 }, { le: 0.5, count: 90 }, { le: 1, count: 100 }, { le: INF, count: 100 }];
    // rank 95 lies in (0.5, 1]: 5 of its 10 observations → half way.
    expect(histogramQuantile(0.95, buckets)).toBeCloseTo(0.75, 10);
    // rank 70 lies in (0.1, 0.5]: 20 of its 40 → half way.
    expect(histogramQuantile(0.7, buckets)).toBeCloseTo(0.3, 10);
  });

  it('starts the lowest bucket at 0 and answers the highest finite bound for a rank in +Inf', () => {
    expect(histogramQuantile(0.5, [{ le: 0.1, count: 50 }, { le: 1, count: 100 }, { le: INF, count: 100 }])).toBeCloseTo(0.1, 10);
    expect(histogramQuantile(0.25, [{ le: 0.1, count: 50 }, { le: 1, count: 100 }, { le: INF, count: 100 }])).toBeCloseTo(0.05, 10);
    expect(histogramQuantile(0.95, [{ le: 0.5, count: 10 }, { le: 2, count: 20 }, { le: INF, count: 100 }])).toBe(2);
  });

  it('sorts the buckets, repairs counts that fall, and is NaN without +Inf, two buckets or observations', () => {
    expect(histogramQuantile(0.95, [{ le: INF, count: 100 }, { le: 1, count: 100 }, { le: 0.5, count: 90 }, { le: 0.1, count: 50 }])).toBeCloseTo(0.75, 10);
    // A bucket read a moment earlier than the next one may hold more; it counts as the one below it.
    expect(histogramQuantile(0.5, [{ le: 0.1, count: 60 }, { le: 0.5, count: 50 }, { le: INF, count: 100 }])).toBeCloseTo(50 / 60 * 0.1, 10);
    expect(histogramQuantile(0.95, [{ le: 0.5, count: 10 }, { le: 1, count: 20 }])).toBeNaN();
    expect(histogramQuantile(0.95, [{ le: INF, count: 10 }])).toBeNaN();
    expect(histogramQuantile(0.95, [{ le: 1, count: 0 }, { le: INF, count: 0 }])).toBeNaN();
  });
});

describe('parseExposition', () => {
  it('keeps every series of a labelled histogram and the last line without a newline', () => {
    const parsed = parseExposition('# TYPE h histogram\nh_bucket{le="1",method="GET"} 1\nh_bucket{le="1",method="POST"} 4\nh_bucket{le="+Inf",method="POST"} 5\nlast_total{path="a \\"b\\""} 7');
    expect(parsed.samples.filter((s) => s.name === 'h_bucket')).toHaveLength(3);
    expect(parsed.samples.at(-1)).toEqual({ name: 'last_total', labels: { path: 'a "b"' }, value: 7 });
    expect(parsed.names.has('h')).toBe(true);
  });
});

describe('runProbeCycle', () => {
  it('gives every alert a stable fingerprint: the same for its firing and its resolved signal, distinct across alerts', async () => {
    const dms = new FakeDms();
    const deps = dms.deps();
    dms.ping = new Error('connection refused');
    const fired = one(await runProbeCycle(deps), 'db_connection_failure');
    dms.ping = 'ok';
    dms.now += 60_000;
    const cleared = one(await runProbeCycle(deps), 'db_connection_failure');
    expect(fired).toMatchObject({ status: 'firing', severity: 'critical', source: 'probe', labels: { component: 'database', system: 'alphha-test' } });
    expect(cleared.status).toBe('resolved');
    expect(cleared.fingerprint).toBe(fired.fingerprint);
    expect(fired.fingerprint).toBe(createHash('sha256').update('probe\0db_connection_failure').digest('hex').slice(0, 16));
    // A new process (new memory, new deps) computes the same fingerprints.
    expect(one(await runProbeCycle(new FakeDms().deps()), 'db_connection_failure').fingerprint).toBe(fired.fingerprint);
    const all = [...PROBE_ALERTS.map((alert) => probeFingerprint(alert)), probeFingerprint('rpo_breach', 'warning')];
    expect(new Set(all).size).toBe(all.length);
  });

  it('judges nothing from the metrics on the first cycle, and everything else at once', async () => {
    const dms = new FakeDms();
    const signals = await runProbeCycle(dms.deps());
    expect(signals.map((s) => s.alert).sort()).toEqual(['db_connection_failure', 'health_endpoint_down', 'retention_violation', 'rpo_breach', 'rpo_breach', 'storage_capacity']);
    expect(signals.every((s) => s.status === 'resolved')).toBe(true);
    expect(dms.noVerdicts.map((n) => n.alert).sort()).toEqual(['api_error_rate', 'failed_login_spike', 'latency_p95']);
    expect(dms.noVerdicts.every((n) => n.routine && /first scrape/.test(n.reason))).toBe(true);
  });

  it('rates 5xx over the requests of the last five minutes (counter deltas, by the status label), with what it measured', async () => {
    const dms = new FakeDms();
    const deps = dms.deps();
    dms.metrics = { requests: { '200': 5_000, '500': 400 } };
    await runProbeCycle(deps);
    // 2,400 more requests, 288 of them 5xx; a 503 series appears for the first time and counts from zero.
    dms.now += 5 * 60_000;
    dms.metrics = { requests: { '200': 7_112, '500': 600, '503': 88 } };
    const fired = one(await runProbeCycle(deps), 'api_error_rate');
    expect(fired).toMatchObject({ status: 'firing', severity: 'critical', summary: '5xx 12.0 % of 2,400 requests over 300 s (threshold 5 %)' });
    dms.now += 5 * 60_000;
    dms.metrics = { requests: { '200': 9_012, '500': 650, '503': 88 } };
    const cleared = one(await runProbeCycle(deps), 'api_error_rate');
    expect(cleared).toMatchObject({ status: 'resolved', fingerprint: fired.fingerprint, summary: '5xx 2.6 % of 1,950 requests over 300 s (threshold 5 %)' });
    // No requests at all: no errors either.
    dms.now += 5 * 60_000;
    expect(one(await runProbeCycle(deps), 'api_error_rate')).toMatchObject({ status: 'resolved', summary: 'no requests over 300 s (threshold 5 % 5xx)' });
  });

  it('judges the error rate over five minutes of one-minute scrapes: one bad minute among good ones is diluted', async () => {
    const dms = new FakeDms();
    const deps = dms.deps();
    let ok = 0;
    let errors = 0;
    // One scrape a minute; the returned signal is this cycle's api_error_rate verdict.
    const minute = async (good: number, bad: number) => {
      ok += good;
      errors += bad;
      dms.metrics = { requests: { '200': ok, '500': errors } };
      const verdicts = find(await runProbeCycle(deps), 'api_error_rate');
      dms.now += 60_000;
      return verdicts[0];
    };
    for (let i = 0; i < 6; i += 1) await minute(1_000, 0);
    // 12 % errors for a minute: 120 of the 5,000 requests since the scrape five minutes back is 2.4 %.
    expect(await minute(880, 120)).toMatchObject({ status: 'resolved', summary: '5xx 2.4 % of 5,000 requests over 300 s (threshold 5 %)' });
    expect(await minute(880, 120)).toMatchObject({ status: 'resolved', summary: '5xx 4.8 % of 5,000 requests over 300 s (threshold 5 %)' });
    expect(await minute(880, 120)).toMatchObject({ status: 'firing', summary: '5xx 7.2 % of 5,000 requests over 300 s (threshold 5 %)' });
  });

  it('does not average a gap in the scrapes into the rate: after one, it rates from the first scrape since', async () => {
    const dms = new FakeDms();
    const deps = dms.deps();
    dms.metrics = { requests: { '200': 1_000_000, '500': 0 } };
    await runProbeCycle(deps);
    // The metrics endpoint was away for half an hour; a burst of errors now is not hidden by the hours before.
    dms.now += 30 * 60_000;
    dms.metrics = { requests: { '200': 1_001_000, '500': 0 } };
    expect(find(await runProbeCycle(deps), 'api_error_rate')).toEqual([]);
    expect(dms.noVerdicts.find((n) => n.alert === 'api_error_rate' && /not scraped for a while/.test(n.reason))).toBeDefined();
    dms.now += 60_000;
    dms.metrics = { requests: { '200': 1_001_900, '500': 100 } };
    expect(one(await runProbeCycle(deps), 'api_error_rate')).toMatchObject({ status: 'firing', summary: '5xx 10.0 % of 1,000 requests over 60 s (threshold 5 %)' });
  });

  it('takes a counter that went down (or vanished) for a restart: no verdict that cycle, then rates from the new start', async () => {
    const dms = new FakeDms();
    const deps = dms.deps();
    dms.metrics = { requests: { '200': 5_000, '500': 400 }, buckets: { '0.1': 5_400, '+Inf': 5_400 }, failedLogins: 90 };
    await runProbeCycle(deps);
    dms.now += 60_000;
    dms.metrics = { requests: { '200': 30, '500': 20 }, buckets: { '0.1': 50, '+Inf': 50 }, failedLogins: 3 };
    const afterRestart = await runProbeCycle(deps);
    expect(find(afterRestart, 'api_error_rate')).toEqual([]);
    expect(find(afterRestart, 'latency_p95')).toEqual([]);
    expect(find(afterRestart, 'failed_login_spike')).toEqual([]);
    expect(dms.noVerdicts.filter((n) => /restarted/.test(n.reason)).map((n) => n.alert).sort()).toEqual(['api_error_rate', 'failed_login_spike', 'latency_p95']);
    // A series that disappears is a restart too (the 500 series is not back yet).
    dms.now += 60_000;
    dms.metrics = { requests: { '200': 80 }, buckets: { '0.1': 100, '+Inf': 100 }, failedLogins: 4 };
    expect(find(await runProbeCycle(deps), 'api_error_rate')).toEqual([]);
    dms.now += 60_000;
    dms.metrics = { requests: { '200': 180, '500': 100 }, buckets: { '0.1': 300, '+Inf': 300 }, failedLogins: 5 };
    const rated = await runProbeCycle(deps);
    expect(one(rated, 'api_error_rate')).toMatchObject({ status: 'firing', summary: '5xx 50.0 % of 200 requests over 60 s (threshold 5 %)' });
    expect(one(rated, 'latency_p95').status).toBe('resolved');
    // Failed logins count from the first scrape after the restart: 5 − 3, not 5 − 90.
    expect(one(rated, 'failed_login_spike').summary).toBe('2 failed logins in the last 120 s (threshold 20 in 10 min)');
  });

  it('computes p95 from the bucket deltas between scrapes (all label sets summed), not from the totals since start', async () => {
    const dms = new FakeDms();
    const deps = dms.deps();
    // Ten thousand fast requests since start.
    dms.metrics = { requests: { '200': 10_000 }, buckets: { '0.1': 10_000, '0.5': 10_000, '1': 10_000, '2': 10_000, '2.5': 10_000, '5': 10_000, '+Inf': 10_000 } };
    await runProbeCycle(deps);
    // Then 200 slow ones: 20 in (1, 2], 180 in (2.5, 5]. rank 190 → (2.5, 5]: 170 of 180 → 2.5 + 2.5 × 170/180.
    dms.now += 5 * 60_000;
    dms.metrics = { requests: { '200': 10_200 }, buckets: { '0.1': 10_000, '0.5': 10_000, '1': 10_000, '2': 10_020, '2.5': 10_020, '5': 10_200, '+Inf': 10_200 } };
    const slow = one(await runProbeCycle(deps), 'latency_p95');
    expect(slow).toMatchObject({ status: 'firing', severity: 'warning', summary: `p95 ${(2.5 + 2.5 * (170 / 180)).toFixed(2)} s over 200 requests in 300 s (threshold 2 s)` });
    dms.now += 5 * 60_000;
    dms.metrics = { requests: { '200': 10_300 }, buckets: { '0.1': 10_100, '0.5': 10_100, '1': 10_100, '2': 10_120, '2.5': 10_120, '5': 10_300, '+Inf': 10_300 } };
    const fast = one(await runProbeCycle(deps), 'latency_p95');
    expect(fast).toMatchObject({ status: 'resolved', fingerprint: slow.fingerprint, summary: 'p95 0.10 s over 100 requests in 300 s (threshold 2 s)' });
  });

  it('counts failed logins against the newest scrape at least ten minutes old (the oldest until there is one), as security', async () => {
    const dms = new FakeDms();
    const deps = dms.deps();
    let total = 0;
    const cycle = async (added: number) => {
      total += added;
      dms.metrics = { requests: { '200': 0 }, buckets: {}, failedLogins: total };
      const signals = await runProbeCycle(deps);
      dms.now += 60_000;
      return find(signals, 'failed_login_spike')[0];
    };
    expect(await cycle(0)).toBeUndefined();
    const spike = await cycle(25);
    expect(spike).toMatchObject({ status: 'firing', severity: 'warning', labels: { category: 'security', component: 'auth' }, summary: '25 failed logins in the last 60 s (threshold 20 in 10 min)' });
    // The spike stays inside the window for ten minutes, whatever comes after it …
    for (let minute = 2; minute <= 10; minute += 1) expect((await cycle(0))?.status).toBe('firing');
    // … the eleventh minute compares with the scrape taken right after it.
    const cleared = await cycle(1);
    expect(cleared).toMatchObject({ status: 'resolved', fingerprint: spike!.fingerprint, summary: '1 failed login in the last 600 s (threshold 20 in 10 min)' });
    // Scrapes older than the baseline are forgotten.
    expect(deps.memory.scrapes.length).toBeLessThanOrEqual(FAILED_LOGIN_WINDOW_MS / 60_000 + 1);
  });

  it('warns at 80 % of the RPO and goes critical past it, as two alerts so the critical one pages', async () => {
    const dms = new FakeDms();
    const deps = dms.deps();
    const rpo = (signals: AlertSignal[]) => find(signals, 'rpo_breach').map((s) => ({ severity: s.severity, status: s.status, fingerprint: s.fingerprint }));
    const warningFp = probeFingerprint('rpo_breach', 'warning');
    const criticalFp = probeFingerprint('rpo_breach');
    // An unverified backup does not count, however new.
    dms.catalog = [manifest('db-verified', START - 50 * 60_000), manifest('db-unverified', START - 60_000, false)];
    const warned = await runProbeCycle(deps);
    expect(rpo(warned)).toEqual([
      { severity: 'warning', status: 'firing', fingerprint: warningFp },
      { severity: 'critical', status: 'resolved', fingerprint: criticalFp },
    ]);
    expect(find(warned, 'rpo_breach')[0]!.summary).toBe('newest verified database backup db-verified is 50 min old, 83 % of the RPO of 1 h (warning past 80 %)');
    dms.now += 20 * 60_000;
    const breached = await runProbeCycle(deps);
    expect(rpo(breached)).toEqual([
      { severity: 'critical', status: 'firing', fingerprint: criticalFp },
      { severity: 'warning', status: 'resolved', fingerprint: warningFp },
    ]);
    expect(find(breached, 'rpo_breach')[0]!.summary).toBe('newest verified database backup db-verified is 1 h 10 min old, 117 % of the RPO of 1 h: over it');
    dms.catalog.push(manifest('db-fresh', dms.now - 5 * 60_000));
    expect(rpo(await runProbeCycle(deps)).map((s) => s.status)).toEqual(['resolved', 'resolved']);
    dms.catalog = [];
    const none = await runProbeCycle(deps);
    expect(find(none, 'rpo_breach')[0]).toMatchObject({ severity: 'critical', status: 'firing', summary: 'no verified database backup at all: nothing to restore, the RPO of 1 h cannot be met' });
    expect(one(none, 'retention_violation')).toMatchObject({ status: 'firing', severity: 'warning', summary: 'database backups break the retention policy (daily 7, weekly 4, monthly 12): no backups at all' });
  });

  it('fires db_connection_failure from the health endpoint alone, without a second page for the 503 it explains', async () => {
    const dms = new FakeDms();
    dms.health = { httpStatus: 503, status: 'unhealthy', components: { database: { status: 'unhealthy', detail: 'connection refused' }, storage: { status: 'healthy' } } };
    const signals = await runProbeCycle(dms.deps());
    expect(one(signals, 'db_connection_failure')).toMatchObject({ status: 'firing', summary: 'the health endpoint reports the database unhealthy (connection refused)' });
    expect(one(signals, 'health_endpoint_down')).toMatchObject({ status: 'resolved' });
    expect(one(signals, 'health_endpoint_down').summary).toMatch(/^health endpoint answered HTTP 503 \(unhealthy\) in \d+ ms: the endpoint works and reports only the database down/);
  });

  it('fires health_endpoint_down when the endpoint is unreachable or answers non-2xx for another reason', async () => {
    const dms = new FakeDms();
    const deps = dms.deps();
    dms.health = new Error('http://dms/health unreachable: ECONNREFUSED');
    const unreachable = await runProbeCycle(deps);
    expect(one(unreachable, 'health_endpoint_down')).toMatchObject({ status: 'firing', summary: 'health endpoint down: http://dms/health unreachable: ECONNREFUSED' });
    // The database still answers its own ping: no database alert from a missing health answer.
    expect(one(unreachable, 'db_connection_failure').status).toBe('resolved');
    dms.health = { httpStatus: 503, status: 'unhealthy', components: { database: { status: 'healthy' }, storage: { status: 'unhealthy', detail: 'uploads missing' } } };
    expect(one(await runProbeCycle(deps), 'health_endpoint_down').summary).toMatch(/^health endpoint answered HTTP 503 \(unhealthy\) in \d+ ms: storage unhealthy \(uploads missing\)$/);
  });

  it('fires storage_capacity over the threshold, never for S3, and gives no verdict when the filesystem cannot be read', async () => {
    const dms = new FakeDms();
    const deps = dms.deps();
    dms.storage = { ...LOCAL_STORAGE, usedPct: 93.24, freeBytes: 1.5 * 1024 ** 3 };
    expect(one(await runProbeCycle(deps), 'storage_capacity')).toMatchObject({ status: 'firing', summary: 'uploads filesystem 93.2 % used, 1.5 GiB free at /srv/uploads (threshold 90 %)' });
    dms.storage = { kind: 's3', bucket: 'alphha-docs', region: 'us-east-1' };
    expect(one(await runProbeCycle(deps), 'storage_capacity')).toMatchObject({ status: 'resolved', summary: 'documents in S3 bucket alphha-docs: no filesystem to fill' });
    dms.storage = new Error('uploads folder /srv/uploads does not exist');
    expect(find(await runProbeCycle(deps), 'storage_capacity')).toEqual([]);
    expect(dms.noVerdicts.at(-1)).toEqual({ alert: 'storage_capacity', reason: 'storage probe failed: uploads folder /srv/uploads does not exist', routine: false });
  });

  it('gives each probe its own deadline: a hung database costs one timeout and the others are judged', async () => {
    const dms = new FakeDms();
    dms.ping = 'hang';
    const started = performance.now();
    const signals = await runProbeCycle(dms.deps({ probeTimeoutMs: 300 }));
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(one(signals, 'db_connection_failure')).toMatchObject({ status: 'firing', summary: 'sqlite:/srv/alphha.db does not answer: no answer within 300 ms' });
    expect(one(signals, 'health_endpoint_down').status).toBe('resolved');
    expect(one(signals, 'storage_capacity').status).toBe('resolved');
  });

  it('says which metric it cannot find, and judges nothing from a failed scrape', async () => {
    const dms = new FakeDms();
    const deps = dms.deps({ metricNames: { requestsTotal: 'dms_requests_total', statusLabel: 'code', latencyHistogram: 'http_request_duration_seconds', failedLoginsTotal: 'auth_failed_logins_total' } });
    await runProbeCycle(deps);
    expect(dms.noVerdicts.find((n) => n.alert === 'api_error_rate')).toEqual({ alert: 'api_error_rate', reason: "metric dms_requests_total is not in the DMS's exposition (alerts.metrics.requests_total)", routine: false });
    dms.metrics = new Error('http://dms/prometheus answered HTTP 500');
    dms.noVerdicts = [];
    expect((await runProbeCycle(deps)).filter((s) => ['api_error_rate', 'latency_p95', 'failed_login_spike'].includes(s.alert))).toEqual([]);
    expect(dms.noVerdicts.map((n) => n.reason)).toEqual(Array(3).fill('metrics endpoint: http://dms/prometheus answered HTTP 500'));
  });
});

describe('startProbeCycle', () => {
  it('takes the signals of each cycle in, never runs two cycles at once, and stops after the one in progress', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'dr-probe-schedule-'));
    const store = await openStateStore(path.join(dir, 'state.db'));
    try {
      const dms = new FakeDms();
      dms.catalog = [];
      let inFlight = 0;
      let most = 0;
      let cycles = 0;
      const probes = dms.deps();
      const ping = probes.database.ping.bind(probes.database);
      probes.database = {
        ...probes.database,
        ping: async (signal) => {
          cycles += 1;
          inFlight += 1;
          most = Math.max(most, inFlight);
          await new Promise((resolve) => setTimeout(resolve, 40));
          inFlight -= 1;
          return ping(signal);
        },
      };
      const { logger, lines } = captureLogs();
      const routing = { channels: { critical: '#dr-critical', warning: '#dr-warnings', security: '#security-incidents' }, paging: false, email: false };
      const schedule = startProbeCycle({ probes, intake: { store, routing, now: () => new Date() }, logger }, 25);
      const [first, second] = await Promise.all([schedule.runOnce(), schedule.runOnce()]);
      expect(first!.map((a) => `${a.alert}:${a.state}`).sort()).toEqual(['retention_violation:firing', 'rpo_breach:firing']);
      // The second cycle, queued behind the first, saw them firing again: seen, not logged as a change.
      expect(second!.map((a) => `${a.alert}:${a.state}:${a.fireCount}`).sort()).toEqual(['retention_violation:firing:1', 'rpo_breach:firing:1']);
      expect(lines.filter((line) => line.msg === 'probe alert changed').map((line) => line.alert).sort()).toEqual(['retention_violation', 'rpo_breach']);
      // The timer runs cycles too, never beside one in progress.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(cycles).toBeGreaterThan(2);
      expect(most).toBe(1);
      await schedule.stop();
      const stoppedAt = cycles;
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(cycles).toBe(stoppedAt);
      expect(inFlight).toBe(0);
      expect((await store.listAlerts({ states: ['firing'] })).map((a) => a.alert).sort()).toEqual(['retention_violation', 'rpo_breach']);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
