import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { probeScheduleDeps, startProbeCycle, type ProbeSchedule, type ProbeScheduleDeps } from '../../src/alerts/probe-schedule.ts';
import { probeFingerprint, RATE_WINDOW_MS, type ProbeAlert } from '../../src/alerts/probes.ts';
import { startPagerDutyFake, type PagerDutyFake } from '../fakes/pagerduty-fake.ts';
import type { SlackCall } from '../fakes/slack-api.ts';
import { pagingInto, startTestBot, type TestBot } from '../helpers/bot.ts';
import { tempSandbox } from '../helpers/sandbox.ts';

const WAIT = 20_000;

// The steps build on each other (one sandbox, one bot, one probe cycle with its kept scrapes), in order.
describe('the probe cycle against a sandbox DMS: each catalog alert provoked, routed, paged and resolved', () => {
  let sandbox: Sandbox;
  let pagerduty: PagerDutyFake;
  let t: TestBot;
  let probes: ProbeScheduleDeps;
  let cycle: ProbeSchedule;
  // The probe cycle's clock runs ahead of the wall clock by this much (the failed-login window has to pass).
  let skewMs = 0;

  beforeAll(async () => {
    sandbox = await tempSandbox({
      // The latency fault slows the health endpoint as much as the API: 3 s must fit in the probe deadline.
      // A storage threshold of 1 % puts any real disk over it.
      config: { probes: { timeout: '5s' }, alerts: { thresholds: { storage_used_pct: 1 } } },
    });
    await sandbox.startServer();
    pagerduty = await startPagerDutyFake();
    t = await startTestBot({ configPath: sandbox.configPath, ...pagingInto(pagerduty) });
    probes = probeScheduleDeps(t.bot.deps, { now: () => new Date(Date.now() + skewMs) });
    // A day-long interval: the test runs every cycle itself with runOnce.
    cycle = startProbeCycle(probes, 86_400_000);
  }, 60_000);

  afterAll(async () => {
    await cycle?.stop();
    await t?.close();
    await pagerduty?.close();
    await sandbox?.destroy();
  });

  const text = (call: SlackCall) => String(call.body.text);
  const ts = (call: SlackCall) => (call.response as { ts: string }).ts;
  /** The first post of an alert (a severity) in a channel. */
  const postOf = (alert: string, severity: 'critical' | 'warning', channel: string) =>
    t.slack.waitFor((c) => c.method === 'chat.postMessage' && c.body.channel === channel && text(c).includes(` ${alert} (${severity}) firing`), WAIT);
  /** An edit of that same message to `state`. */
  const editOf = (post: SlackCall, state: 'resolved' | 'firing', after = 0) =>
    t.slack.waitFor((c) => c.method === 'chat.update' && c.body.ts === ts(post) && c.at >= after && text(c).includes(`) ${state}:`), WAIT);
  const postsOf = (alert: string) => t.slack.calls.filter((c) => c.method === 'chat.postMessage' && text(c).includes(` ${alert} (`));
  const open = async (): Promise<string[]> =>
    (await t.bot.deps.store.listAlerts({ states: ['firing', 'acknowledged'] })).map((a) => `${a.alert}:${a.severity}`).sort();
  const paged = (alert: ProbeAlert, action: 'trigger' | 'resolve', level?: 'warning') =>
    pagerduty.waitFor((e) => e.body.event_action === action && e.body.dedup_key === probeFingerprint(alert, level), WAIT);
  /** One probe cycle, as the alerts it fired and resolved (`alert:severity`); a firing alert whose measurement moved is neither. */
  const step = async (): Promise<{ fired: string[]; resolved: string[] }> => {
    const before = await open();
    await cycle.runOnce();
    const after = await open();
    return { fired: after.filter((a) => !before.includes(a)), resolved: before.filter((a) => !after.includes(a)) };
  };

  it('first cycle: no backup yet fires rpo_breach (critical, paged) and retention_violation (warning); the 1 % disk threshold fires storage_capacity', async () => {
    expect(await step()).toEqual({ fired: ['retention_violation:warning', 'rpo_breach:critical', 'storage_capacity:critical'], resolved: [] });
    const rpo = await postOf('rpo_breach', 'critical', '#dr-critical');
    expect(text(rpo)).toContain('no verified database backup at all');
    expect(text(await postOf('storage_capacity', 'critical', '#dr-critical'))).toMatch(/uploads filesystem \d+\.\d % used, .* free at .* \(threshold 1 %\)/);
    expect(text(await postOf('retention_violation', 'warning', '#dr-warnings'))).toContain('no backups at all');
    // Critical alerts page with the alert's fingerprint as dedup_key, through the durable outbox; warnings never page.
    const queued = (await t.bot.deps.store.listOutbox({ target: 'pagerduty' })).map((m) => m.payload);
    expect(queued).toEqual(expect.arrayContaining([
      { kind: 'pagerduty', fingerprint: probeFingerprint('rpo_breach'), action: 'trigger' },
      { kind: 'pagerduty', fingerprint: probeFingerprint('storage_capacity'), action: 'trigger' },
    ]));
    expect(queued.some((p) => 'fingerprint' in p && p.fingerprint === probeFingerprint('retention_violation'))).toBe(false);
    expect((await paged('rpo_breach', 'trigger')).body.payload).toMatchObject({ severity: 'critical', class: 'rpo_breach' });
    await paged('storage_capacity', 'trigger');
    // The metrics were scraped once: no rate yet, so nothing from them.
    expect(await open()).toEqual(['retention_violation:warning', 'rpo_breach:critical', 'storage_capacity:critical']);
  });

  it('a database backup resolves rpo_breach and retention_violation in their own messages', async () => {
    await t.bot.deps.backupDatabase();
    expect(await step()).toEqual({ fired: [], resolved: ['retention_violation:warning', 'rpo_breach:critical'] });
    expect(text(await editOf(await postOf('rpo_breach', 'critical', '#dr-critical'), 'resolved'))).toMatch(/is \d+ ms old|is \d+(\.\d)? s old/);
    await editOf(await postOf('retention_violation', 'warning', '#dr-warnings'), 'resolved');
    await paged('rpo_breach', 'resolve');
  });

  it('stale backups (sandbox age-backups): a warning past 80 % of the RPO, then critical past it; a fresh backup clears it', async () => {
    await sandbox.ageBackups(50 * 60_000);
    await t.bot.deps.rebuildCatalog();
    expect(await step()).toEqual({ fired: ['rpo_breach:warning'], resolved: [] });
    const warning = await postOf('rpo_breach', 'warning', '#dr-warnings');
    expect(text(warning)).toMatch(/is 50 min old, 8\d % of the RPO of 1 h \(warning past 80 %\)/);
    await sandbox.ageBackups(70 * 60_000);
    await t.bot.deps.rebuildCatalog();
    const since = Date.now();
    // The critical level is its own alert: it comes back in its old message (same fingerprint), and pages again.
    expect(await step()).toEqual({ fired: ['rpo_breach:critical'], resolved: ['rpo_breach:warning'] });
    const critical = await postOf('rpo_breach', 'critical', '#dr-critical');
    expect(text(await editOf(critical, 'firing', since))).toMatch(/is 2 h old, 20\d % of the RPO of 1 h: over it/);
    expect(text(await editOf(warning, 'resolved'))).toContain('now critical');
    await pagerduty.waitFor((e) => e.body.event_action === 'trigger' && e.body.dedup_key === probeFingerprint('rpo_breach') && e.at >= since, WAIT);
    await t.bot.deps.backupDatabase();
    expect(await step()).toEqual({ fired: [], resolved: ['rpo_breach:critical'] });
    await editOf(critical, 'resolved', since);
    expect(postsOf('rpo_breach').map((c) => c.body.channel).sort()).toEqual(['#dr-critical', '#dr-warnings']);
  });

  it('db_down: the health endpoint reports the database down → db_connection_failure (critical, paged), not a second page for its 503', async () => {
    await sandbox.setFault('db_down', true);
    expect(await step()).toEqual({ fired: ['db_connection_failure:critical'], resolved: [] });
    const post = await postOf('db_connection_failure', 'critical', '#dr-critical');
    expect(text(post)).toContain('the health endpoint reports the database unhealthy (connection refused (sandbox fault db_down))');
    await paged('db_connection_failure', 'trigger');
    await sandbox.clearFaults();
    expect(await step()).toEqual({ fired: [], resolved: ['db_connection_failure:critical'] });
    expect(text(await editOf(post, 'resolved'))).toMatch(/answered in \d+ ms; the health endpoint reports it healthy/);
    await paged('db_connection_failure', 'resolve');
  });

  it('error_rate: 10 % of the requests over five minutes answer 5xx → api_error_rate (critical, paged)', async () => {
    await sandbox.setFault('error_rate', 10);
    // Five minutes on: the window holds only the faulty requests.
    skewMs += RATE_WINDOW_MS;
    expect(await step()).toEqual({ fired: ['api_error_rate:critical'], resolved: [] });
    const post = await postOf('api_error_rate', 'critical', '#dr-critical');
    expect(text(post)).toMatch(/5xx 10\.0 % of 200 requests over 3\d\d s \(threshold 5 %\)/);
    await paged('api_error_rate', 'trigger');
    await sandbox.clearFaults();
    skewMs += RATE_WINDOW_MS;
    expect(await step()).toEqual({ fired: [], resolved: ['api_error_rate:critical'] });
    expect(text(await editOf(post, 'resolved'))).toMatch(/5xx 0\.0 % of 200 requests/);
  });

  it('latency: every request 3 s slower → latency_p95 (warning: #dr-warnings, no page), interpolated in its bucket', async () => {
    await sandbox.setFault('latency', 3);
    skewMs += RATE_WINDOW_MS;
    expect(await step()).toEqual({ fired: ['latency_p95:warning'], resolved: [] });
    // All 200 observations fall in (2.5, 5]: rank 190 of 200 → 2.5 + 2.5 × 0.95.
    const post = await postOf('latency_p95', 'warning', '#dr-warnings');
    expect(text(post)).toMatch(/p95 4\.88 s over 200 requests in 3\d\d s \(threshold 2 s\)/);
    await sandbox.clearFaults();
    skewMs += RATE_WINDOW_MS;
    expect(await step()).toEqual({ fired: [], resolved: ['latency_p95:warning'] });
    await editOf(post, 'resolved');
  });

  it('failed_logins: a spike → failed_login_spike in #dr-warnings and #security-incidents; it resolves once ten minutes have passed', async () => {
    await sandbox.setFault('failed_logins', 50);
    expect(await step()).toEqual({ fired: ['failed_login_spike:warning'], resolved: [] });
    const warning = await postOf('failed_login_spike', 'warning', '#dr-warnings');
    const security = await postOf('failed_login_spike', 'warning', '#security-incidents');
    expect(text(security)).toMatch(/(5\d) failed logins in the last \d+(\.\d)? s \(threshold 20 in 10 min\)/);
    await sandbox.clearFaults();
    // Still inside the ten minutes: the spike still counts.
    expect(await step()).toEqual({ fired: [], resolved: [] });
    expect(await open()).toContain('failed_login_spike:warning');
    skewMs += 11 * 60_000;
    expect(await step()).toEqual({ fired: [], resolved: ['failed_login_spike:warning'] });
    await editOf(warning, 'resolved');
    await editOf(security, 'resolved');
  });

  it('storage: raising the threshold above the disk resolves storage_capacity in its message', async () => {
    probes.probes.thresholds.storageUsedPct = 100;
    expect(await step()).toEqual({ fired: [], resolved: ['storage_capacity:critical'] });
    expect(text(await editOf(await postOf('storage_capacity', 'critical', '#dr-critical'), 'resolved'))).toContain('(threshold 100 %)');
    await paged('storage_capacity', 'resolve');
  });

  it('the DMS server stopped → health_endpoint_down (critical, paged); started again → resolved, with no rate judged across its restart', async () => {
    await sandbox.stopServer();
    expect(await step()).toEqual({ fired: ['health_endpoint_down:critical'], resolved: [] });
    const post = await postOf('health_endpoint_down', 'critical', '#dr-critical');
    expect(text(post)).toMatch(/health endpoint down: http:\/\/127\.0\.0\.1:\d+\/api\/v1\/monitoring\/health unreachable: ECONNREFUSED/);
    await paged('health_endpoint_down', 'trigger');
    await sandbox.startServer();
    // Its counters restarted from zero: a reset, not a negative rate (and said so in the log).
    expect(await step()).toEqual({ fired: [], resolved: ['health_endpoint_down:critical'] });
    for (const alert of ['api_error_rate', 'latency_p95', 'failed_login_spike']) {
      expect(t.logs.some((line) => line.alert === alert && /DMS restarted/.test(String(line.reason))), alert).toBe(true);
    }
    await editOf(post, 'resolved');
    await paged('health_endpoint_down', 'resolve');
  });

  it('ends with nothing open, one post per alert and channel, and nothing left undelivered', async () => {
    expect(await open()).toEqual([]);
    for (const alert of ['db_connection_failure', 'health_endpoint_down', 'storage_capacity', 'api_error_rate', 'latency_p95', 'retention_violation'] as const) {
      expect(postsOf(alert), alert).toHaveLength(1);
    }
    expect(postsOf('failed_login_spike').map((c) => c.body.channel).sort()).toEqual(['#dr-warnings', '#security-incidents']);
    // Warnings never paged.
    for (const fingerprint of [probeFingerprint('latency_p95'), probeFingerprint('failed_login_spike'), probeFingerprint('retention_violation'), probeFingerprint('rpo_breach', 'warning')]) {
      expect(pagerduty.events.filter((e) => e.body.dedup_key === fingerprint)).toEqual([]);
    }
    await expect.poll(async () => (await t.bot.deps.store.listOutbox({ status: 'pending' })).length, { timeout: WAIT }).toBe(0);
    expect(await t.bot.deps.store.listOutbox({ status: 'dead' })).toEqual([]);
  });
});
