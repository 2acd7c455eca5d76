// The alert intake parsers: Alertmanager webhook (version "4") and POST /alerts JSON → IncomingAlert,
// with severity mapping, stable fingerprints, and short 400-safe errors that name the offending field.
import { describe, expect, it } from 'vitest';
import {
  ALERT_LIMITS,
  alertFingerprint,
  clipText,
  parseAlertJson,
  parseAlertmanagerBatch,
  parseAlertmanagerWebhook,
  severityFromLabel,
} from '../../../src/alerts/ingest.ts';
import { DrError } from '../../../src/domain/errors.ts';

/** A webhook as Alertmanager 0.25 sends it (captured from a real one, plus a resolved alert). */
function alertmanagerPayload(): Record<string, unknown> & { alerts: Array<Record<string, unknown>> } {
  return {
    receiver: 'dr-bot',
    status: 'firing',
    alerts: [
      {
        status: 'firing',
        labels: { severity: 'critical', instance: 'dms-db-1', alertname: 'DmsDatabaseDown', job: 'dms' },
        annotations: { summary: 'PostgreSQL of Alphha DMS refuses connections', description: 'SELECT 1 failed for 2m', runbook_url: 'https://wiki.internal/runbooks/db-down' },
        startsAt: '2026-11-26T05:11:24.694Z',
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus.internal:9090/graph?g0.expr=pg_up+%3D%3D+0&g0.tab=1',
        fingerprint: 'ad6251e3301055f0',
      },
      {
        status: 'resolved',
        labels: { alertname: 'DmsLatencyHigh', severity: 'warning', job: 'dms' },
        annotations: { description: 'p95 above 2 s' },
        startsAt: '2026-11-26T07:52:26.739266876+02:00',
        endsAt: '2026-11-26T06:10:00.5Z',
        generatorURL: '',
        fingerprint: '1A30BA71CCA2921F',
      },
    ],
    groupLabels: { job: 'dms' },
    commonLabels: { job: 'dms' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager.internal:9093',
    version: '4',
    groupKey: '{}:{job="dms"}',
    truncatedAlerts: 3,
  };
}

/** The DrError a call throws; fails the test when it throws anything else or nothing. */
function thrown(call: () => unknown): DrError {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(DrError);
    return error as DrError;
  }
  throw new Error('expected a DrError, nothing was thrown');
}

function expectInvalid(call: () => unknown, message: string | RegExp): DrError {
  const error = thrown(call);
  expect(error.code).toBe('ALERT_INVALID');
  if (typeof message === 'string') expect(error.userMessage).toContain(message);
  else expect(error.userMessage).toMatch(message);
  // Safe to echo in a 400 body: short, whatever the input was.
  expect(error.userMessage.length).toBeLessThanOrEqual(200);
  return error;
}

describe('parseAlertmanagerWebhook', () => {
  it('turns a version 4 payload into IncomingAlerts, firing and resolved, with the links and truncatedAlerts kept', () => {
    expect(parseAlertmanagerWebhook(alertmanagerPayload())).toEqual([
      {
        fingerprint: 'ad6251e3301055f0',
        alert: 'DmsDatabaseDown',
        severity: 'critical',
        status: 'firing',
        summary: 'PostgreSQL of Alphha DMS refuses connections',
        labels: { alertname: 'DmsDatabaseDown', instance: 'dms-db-1', job: 'dms', severity: 'critical' },
        startsAt: '2026-11-26T05:11:24.694Z',
        source: 'alertmanager',
        link: 'http://prometheus.internal:9090/graph?g0.expr=pg_up+%3D%3D+0&g0.tab=1',
        runbookUrl: 'https://wiki.internal/runbooks/db-down',
        alertmanagerUrl: 'http://alertmanager.internal:9093',
        truncatedAlerts: 3,
        groupKey: '{}:{job="dms"}',
        group: '{}:{job="dms"}',
      },
      {
        fingerprint: '1a30ba71cca2921f',
        alert: 'DmsLatencyHigh',
        severity: 'warning',
        status: 'resolved',
        summary: 'p95 above 2 s',
        labels: { alertname: 'DmsLatencyHigh', job: 'dms', severity: 'warning' },
        startsAt: '2026-11-26T05:52:26.739Z',
        endsAt: '2026-11-26T06:10:00.500Z',
        source: 'alertmanager',
        alertmanagerUrl: 'http://alertmanager.internal:9093',
        truncatedAlerts: 3,
        groupKey: '{}:{job="dms"}',
        group: '{}:{job="dms"}',
      },
    ]);
  });

  it('reports the batch metadata, truncatedAlerts included', () => {
    const batch = parseAlertmanagerBatch(alertmanagerPayload());
    expect(batch).toMatchObject({ truncated: 3, groupKey: '{}:{job="dms"}', receiver: 'dr-bot' });
    expect(batch.alerts).toHaveLength(2);
  });

  it('accepts the minimum Alertmanager sends and fields it may add later', () => {
    const payload = { version: '4', status: 'firing', receiver: 'r', alerts: [{ status: 'firing', labels: { alertname: 'X' }, fingerprint: 'abc', silenceURL: 'http://x' }], orgId: 1 };
    const batch = parseAlertmanagerBatch(payload);
    expect(batch.truncated).toBe(0);
    expect(batch.alerts).toEqual([{ fingerprint: 'abc', alert: 'X', severity: 'warning', status: 'firing', summary: 'X', labels: { alertname: 'X' }, source: 'alertmanager' }]);
  });

  it('takes the summary from annotations.summary, then description, then the alertname, clipped', () => {
    const summaryOf = (annotations: Record<string, string>) => {
      const payload = alertmanagerPayload();
      payload.alerts = [{ ...payload.alerts[0], annotations }];
      return parseAlertmanagerWebhook(payload)[0]!.summary;
    };
    expect(summaryOf({ summary: 'the summary', description: 'the description' })).toBe('the summary');
    expect(summaryOf({ summary: '  ', description: 'the description' })).toBe('the description');
    expect(summaryOf({})).toBe('DmsDatabaseDown');
    const long = summaryOf({ summary: 'x'.repeat(5_000) });
    expect(long).toHaveLength(ALERT_LIMITS.summaryChars);
    expect(long.endsWith('…')).toBe(true);
  });

  it('drops a link that is not http(s) rather than the alert', () => {
    const payload = alertmanagerPayload();
    payload.alerts = [{ ...payload.alerts[0], generatorURL: 'javascript:alert(1)', annotations: { runbook_url: 'data:text/html,x' } }];
    payload.externalURL = 'file:///etc/passwd';
    const [alert] = parseAlertmanagerWebhook(payload);
    expect(alert).not.toHaveProperty('link');
    expect(alert).not.toHaveProperty('runbookUrl');
    expect(alert).not.toHaveProperty('alertmanagerUrl');
  });

  it.each([
    ['critical', 'critical'],
    ['CRITICAL', 'critical'],
    ['error', 'critical'],
    ['page', 'critical'],
    ['warning', 'warning'],
    ['info', 'warning'],
    ['none', 'warning'],
    ['something-else', 'warning'],
    [undefined, 'warning'],
  ] as const)('maps severity label %s to %s', (label, severity) => {
    expect(severityFromLabel(label)).toBe(severity);
    const payload = alertmanagerPayload();
    const labels: Record<string, string> = { alertname: 'A' };
    if (label !== undefined) labels.severity = label;
    payload.alerts = [{ ...payload.alerts[0], labels }];
    expect(parseAlertmanagerWebhook(payload)[0]!.severity).toBe(severity);
  });

  describe('refuses garbage with ALERT_INVALID naming the field', () => {
    const withAlert = (change: Record<string, unknown>, index = 0) => {
      const payload = alertmanagerPayload();
      payload.alerts[index] = { ...payload.alerts[index], ...change };
      return payload;
    };

    it.each([
      ['a string', 'not json', 'body: expected a JSON object, got a string'],
      ['null', null, 'body: expected a JSON object, got null'],
      ['an array', [alertmanagerPayload()], 'body: expected a JSON object, got an array'],
      ['version 3', { ...alertmanagerPayload(), version: '3' }, 'version: expected "4"'],
      ['no version', { ...alertmanagerPayload(), version: undefined }, 'version: expected "4"'],
      ['no alerts', { ...alertmanagerPayload(), alerts: undefined }, 'alerts: missing (expected an array)'],
      ['alerts not an array', { ...alertmanagerPayload(), alerts: {} }, 'alerts: expected an array, got an object'],
      ['a bad status', withAlert({ status: 'pending' }, 1), 'alerts[1].status: expected "firing" or "resolved"'],
      ['no alertname', withAlert({ labels: { severity: 'critical' } }), 'alerts[0].labels.alertname: missing'],
      ['an alertname that is not a string', withAlert({ labels: { alertname: 42 } }, 1), 'alerts[1].labels.alertname: expected a string, got a number'],
      ['no fingerprint', withAlert({ fingerprint: undefined }), 'alerts[0].fingerprint: missing (expected a string)'],
      ['a fingerprint that is not hex', withAlert({ fingerprint: '../../etc' }), 'alerts[0].fingerprint: expected a hex fingerprint'],
      ['a bad time', withAlert({ startsAt: 'yesterday' }), 'alerts[0].startsAt: expected an RFC 3339 time'],
      ['a negative truncatedAlerts', { ...alertmanagerPayload(), truncatedAlerts: -1 }, 'truncatedAlerts: at least 0'],
    ])('%s', (_name, body, message) => {
      expectInvalid(() => parseAlertmanagerWebhook(body), message);
    });

    it('names the alertname of the third alert', () => {
      const payload = alertmanagerPayload();
      payload.alerts.push({ ...payload.alerts[0], labels: { alertname: ['x'] } });
      expectInvalid(() => parseAlertmanagerWebhook(payload), /^alerts\[2\]\.labels\.alertname: expected a string, got an array$/);
    });

    it(`more than ${ALERT_LIMITS.alertsPerWebhook} alerts`, () => {
      const payload = alertmanagerPayload();
      payload.alerts = Array.from({ length: ALERT_LIMITS.alertsPerWebhook + 1 }, () => payload.alerts[0]!);
      const error = expectInvalid(() => parseAlertmanagerWebhook(payload), 'alerts: at most 10000 alerts per webhook, got 10001');
      expect(error.hint).toContain('max_alerts');
    });

    it(`exactly ${ALERT_LIMITS.alertsPerWebhook} alerts are fine`, () => {
      const payload = alertmanagerPayload();
      payload.alerts = Array.from({ length: ALERT_LIMITS.alertsPerWebhook }, () => payload.alerts[0]!);
      expect(parseAlertmanagerWebhook(payload)).toHaveLength(ALERT_LIMITS.alertsPerWebhook);
    });

    it('a label value of 10 KB, without echoing it', () => {
      const huge = 'A'.repeat(10 * 1024);
      const error = expectInvalid(() => parseAlertmanagerWebhook(withAlert({ labels: { alertname: 'X', instance: huge } })), 'alerts[0].labels.instance: at most 1024 characters');
      expect(error.userMessage).not.toContain('AAAAAAAAAA');
    });

    it('a 10 KB label name, clipped in the message', () => {
      const error = expectInvalid(() => parseAlertmanagerWebhook(withAlert({ labels: { alertname: 'X', ['k'.repeat(10_000)]: 'v' } })), 'label names are at most 128 characters');
      expect(error.userMessage).toMatch(/^alerts\[0\]\.labels\["k{39}…"\]/);
    });

    it('counts the other problems', () => {
      expectInvalid(() => parseAlertmanagerWebhook({ version: '4' }), /^status: .* \(and 2 more problems\)$/);
    });
  });
});

describe('parseAlertJson', () => {
  const valid = { alert: 'backup_job_failure', severity: 'critical', status: 'firing', summary: 'nightly DB backup failed', labels: { kind: 'db', host: 'dms-1' } };

  it('turns POST /alerts JSON into an IncomingAlert', () => {
    expect(parseAlertJson(valid)).toEqual({
      fingerprint: alertFingerprint('backup_job_failure', { kind: 'db', host: 'dms-1' }),
      alert: 'backup_job_failure',
      severity: 'critical',
      status: 'firing',
      summary: 'nightly DB backup failed',
      labels: { host: 'dms-1', kind: 'db' },
      source: 'http',
    });
    expect(parseAlertJson({ alert: 'rpo_breach', severity: 'warning', status: 'resolved', summary: 'ok again' })).toMatchObject({ labels: {}, status: 'resolved', severity: 'warning' });
  });

  it('gives stable fingerprints: 16 hex, label-order independent, same across severity and status', () => {
    const fingerprint = parseAlertJson(valid).fingerprint;
    expect(fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(parseAlertJson({ ...valid, labels: { host: 'dms-1', kind: 'db' } }).fingerprint).toBe(fingerprint);
    expect(parseAlertJson({ ...valid, severity: 'warning', status: 'resolved', summary: 'other words' }).fingerprint).toBe(fingerprint);
    // Pinned: a change of the fingerprint recipe would split existing alerts from their state.
    expect(alertFingerprint('backup_job_failure', { kind: 'db', host: 'dms-1' })).toBe(fingerprint);
    // = first 16 hex of sha256('["backup_job_failure",[["host","dms-1"],["kind","db"]]]'), checked with sha256sum.
    expect(fingerprint).toBe('391b46b66cc11e76');
  });

  it('gives different fingerprints to different alerts', () => {
    const fingerprints = new Set([
      alertFingerprint('a', {}),
      alertFingerprint('b', {}),
      alertFingerprint('a', { x: '1' }),
      alertFingerprint('a', { x: '2' }),
      alertFingerprint('a', { x: '1,y=2' }),
      alertFingerprint('a', { x: '1', y: '2' }),
    ]);
    expect(fingerprints.size).toBe(6);
  });

  it('clips a long summary', () => {
    expect(parseAlertJson({ ...valid, summary: '🔥'.repeat(2_000) }).summary.length).toBeLessThanOrEqual(ALERT_LIMITS.summaryChars);
  });

  describe('refuses garbage with ALERT_INVALID naming the field', () => {
    const tooManyLabels = Object.fromEntries(Array.from({ length: 65 }, (_, index) => [`l${index}`, 'v']));
    it.each([
      ['not an object', 'backup failed', 'body: expected a JSON object, got a string'],
      ['an alert name with spaces', { ...valid, alert: 'backup failed' }, 'alert: expected a lowercase name'],
      ['an alert name with ../', { ...valid, alert: '../etc/passwd' }, 'alert: expected a lowercase name'],
      ['an alert name too long', { ...valid, alert: `a${'b'.repeat(64)}` }, 'alert: expected a lowercase name'],
      ['an uppercase alert name', { ...valid, alert: 'BackupFailed' }, 'alert: expected a lowercase name'],
      ['no alert', { ...valid, alert: undefined }, 'alert: missing (expected a string)'],
      ['a bad severity', { ...valid, severity: 'high' }, 'severity: expected "critical" or "warning"'],
      ['a bad status', { ...valid, status: 'open' }, 'status: expected "firing" or "resolved"'],
      ['an empty summary', { ...valid, summary: ' ' }, 'summary: must not be empty'],
      ['an unknown key', { ...valid, lables: {} }, 'lables: unknown key'],
      ['two unknown keys', { ...valid, x: 1, y: 2 }, 'x: unknown key (and 1 more)'],
      ['labels not an object', { ...valid, labels: ['a'] }, 'labels: expected an object, got an array'],
      ['a label value not a string', { ...valid, labels: { n: 1 } }, 'labels.n: expected a string, got a number'],
      ['a label value of 10 KB', { ...valid, labels: { big: 'x'.repeat(10 * 1024) } }, 'labels.big: at most 1024 characters'],
      ['65 labels', { ...valid, labels: tooManyLabels }, 'labels: at most 64 labels, got 65'],
      ['an empty label name', { ...valid, labels: { '': 'v' } }, 'labels[""]: label names must not be empty'],
    ])('%s', (_name, body, message) => {
      expectInvalid(() => parseAlertJson(body), message);
    });

    it('an unknown key named like a weapon is quoted and clipped', () => {
      const error = expectInvalid(() => parseAlertJson({ ...valid, [`<script>${'x'.repeat(500)}`]: 1 }), 'unknown key');
      expect(error.userMessage.length).toBeLessThan(80);
      expect(error.userMessage.startsWith('["?script?xxx')).toBe(true);
    });
  });
});

describe('clipText', () => {
  it('keeps short text, and never splits a surrogate pair', () => {
    expect(clipText('short', 10)).toBe('short');
    expect(clipText('abcdef', 4)).toBe('abc…');
    expect(clipText('a😀b', 3)).toBe('a…');
  });
});
