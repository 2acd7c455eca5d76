import { describe, expect, it } from 'vitest';
import { collectStatus } from '../../../src/procedures/status.ts';
import type { Run } from '../../../src/domain/run.ts';
import { fakeStatusDeps, RECENT_DRILL } from '../../fakes/status-ports.ts';

const backup = (kind: 'db' | 'storage' | 'config', finishedAt: string, verified = true) => ({
  id: `${kind}-${finishedAt}`,
  kind,
  finishedAt,
  sizeBytes: 2048,
  verified,
});

describe('collectStatus', () => {
  it('judges backups from the catalog without reading the repository’s manifests', async () => {
    // A repository that would never answer: the catalog must be enough.
    const deps = fakeStatusDeps({ backups: 'stuck' }, { catalog: async () => [backup('db', '2026-11-26T11:40:00Z'), backup('storage', '2026-11-26T02:00:00Z')] });
    const backups = (await collectStatus(deps)).probes.find((p) => p.id === 'backups')!;
    expect(backups).toMatchObject({ state: 'ok', summary: 'RPO exposure 20 min (target 1 h)' });
    expect(backups.details).toEqual(['db: db-2026-11-26T11:40:00Z, 20 min ago, 2.0 KiB', 'storage: storage-2026-11-26T02:00:00Z, 10 h ago, 2.0 KiB', 'config: none', 'repository: /srv/backups']);
  });

  it('fails the backups probe when the catalogued backups’ repository is gone, whatever the catalog says', async () => {
    const gone = { location: '/srv/backups', listBackups: async () => [], probe: async () => Promise.reject(new Error('repository /srv/backups does not exist (is its volume mounted?)')) };
    const deps = fakeStatusDeps({}, { catalog: async () => [backup('db', '2026-11-26T11:40:00Z')], repository: gone });
    const backups = (await collectStatus(deps)).probes.find((p) => p.id === 'backups')!;
    expect(backups).toMatchObject({ state: 'fail', summary: 'repository /srv/backups does not exist (is its volume mounted?)' });
  });

  it('lists the repository when the catalog is empty or unreachable (the bot’s state was lost), and says so', async () => {
    for (const catalog of [async () => [], async () => Promise.reject(new Error('state store down'))]) {
      const deps = fakeStatusDeps({ backups: { value: [backup('db', '2026-11-26T11:30:00Z')] } }, { catalog });
      const backups = (await collectStatus(deps)).probes.find((p) => p.id === 'backups')!;
      expect(backups.summary).toBe('RPO exposure 30 min (target 1 h)');
      expect(backups.details.at(-1)).toBe('repository: /srv/backups (listed from its manifests: the catalog is empty or unreachable; `dr backups --rebuild` restores it)');
    }
  });

  it('is ok when every component is healthy and backups are fresh', async () => {
    const report = await collectStatus(fakeStatusDeps({ backups: { value: [backup('db', '2026-11-26T11:30:00Z')] } }));
    expect(report.overall).toBe('ok');
    expect(report.probes.map((p) => [p.id, p.state])).toEqual([
      ['database', 'ok'],
      ['health', 'ok'],
      ['metrics', 'ok'],
      ['storage', 'ok'],
      ['backups', 'ok'],
      ['drills', 'ok'],
      ['pagerduty', 'ok'],
    ]);
    expect(report.probes.find((p) => p.id === 'backups')!.summary).toBe('RPO exposure 30 min (target 1 h)');
  });

  it('fails the database line when the DMS itself reports its database down, even though the bot can read it', async () => {
    const deps = fakeStatusDeps({
      backups: { value: [backup('db', '2026-11-26T11:30:00Z')] },
      health: { value: { httpStatus: 503, status: 'unhealthy', components: { database: { status: 'unhealthy', detail: 'connection refused' }, storage: { status: 'healthy' } } } },
    });
    const report = await collectStatus(deps);
    const database = report.probes.find((p) => p.id === 'database')!;
    expect(database.state).toBe('fail');
    expect(database.summary).toMatch(/^the DMS reports its database down \(database: unhealthy \(connection refused\)\); the bot's own check: .*integrity ok/);
    expect(report.overall).toBe('fail');
  });

  it('keeps the database line ok when the DMS reports only another component down', async () => {
    const deps = fakeStatusDeps({
      backups: { value: [backup('db', '2026-11-26T11:30:00Z')] },
      health: { value: { httpStatus: 200, status: 'degraded', components: { database: { status: 'healthy' }, storage: { status: 'degraded' } } } },
    });
    expect((await collectStatus(deps)).probes.find((p) => p.id === 'database')!.state).toBe('ok');
  });

  it('says plainly when there are no backups yet', async () => {
    const report = await collectStatus(fakeStatusDeps());
    const backups = report.probes.find((p) => p.id === 'backups')!;
    expect(backups).toMatchObject({ state: 'warn', summary: 'no backups yet — RPO exposure unknown' });
    expect(report.overall).toBe('warn');
  });

  it('judges RPO exposure from the newest verified DB backup only', async () => {
    const deps = fakeStatusDeps({
      backups: { value: [backup('db', '2026-11-26T11:55:00Z', false), backup('db', '2026-11-26T10:45:00Z'), backup('storage', '2026-11-26T11:59:00Z')] },
    });
    const backups = (await collectStatus(deps)).probes.find((p) => p.id === 'backups')!;
    expect(backups.state).toBe('fail');
    expect(backups.summary).toBe('RPO exposure 1 h 15 min (target 1 h)');
    expect(backups.details[0]).toMatch(/^db: db-2026-11-26T10:45:00Z, 1 h 15 min ago, 2.0 KiB$/);
  });

  it('warns at 80 % of the RPO', async () => {
    const deps = fakeStatusDeps({ backups: { value: [backup('db', '2026-11-26T11:10:00Z')] } });
    expect((await collectStatus(deps)).probes.find((p) => p.id === 'backups')!.state).toBe('warn');
  });

  it('fails a database whose integrity check fails, with the reason', async () => {
    const deps = fakeStatusDeps({ database: { value: { engine: 'sqlite', version: 'unknown', integrity: 'SQLITE_CORRUPT: database disk image is malformed', counts: { documents: 0, users: 0, tenants: 0 } } } });
    const db = (await collectStatus(deps)).probes.find((p) => p.id === 'database')!;
    expect(db).toMatchObject({ state: 'fail', summary: 'integrity check failed: SQLITE_CORRUPT: database disk image is malformed' });
  });

  it('turns a thrown probe into ❌ with its message, leaving the others alone', async () => {
    const report = await collectStatus(fakeStatusDeps({ health: { error: new Error('http://x/health unreachable: ECONNREFUSED') } }));
    expect(report.probes.find((p) => p.id === 'health')).toMatchObject({ state: 'fail', summary: 'http://x/health unreachable: ECONNREFUSED' });
    expect(report.probes.find((p) => p.id === 'database')!.state).toBe('ok');
    expect(report.overall).toBe('fail');
  });

  it('gives a hung probe its own deadline and never delays the others', async () => {
    const started = performance.now();
    const report = await collectStatus(fakeStatusDeps({ database: 'hang', storage: 'hang' }, { probeTimeoutMs: 150 }));
    const elapsed = performance.now() - started;
    expect(elapsed).toBeLessThan(1_000);
    expect(report.probes.find((p) => p.id === 'database')).toMatchObject({ state: 'fail', summary: 'no answer within 150 ms' });
    expect(report.probes.find((p) => p.id === 'storage')!.state).toBe('fail');
    expect(report.probes.find((p) => p.id === 'health')!.ms).toBeLessThan(100);
  });

  it('does not pile up probes stuck in the kernel: the next status says the last one never returned', async () => {
    const deps = fakeStatusDeps({ storage: 'stuck' }, { probeTimeoutMs: 100 });
    const first = (await collectStatus(deps)).probes.find((p) => p.id === 'storage')!;
    expect(first.summary).toBe('no answer within 100 ms');
    const second = (await collectStatus(deps)).probes.find((p) => p.id === 'storage')!;
    expect(second).toMatchObject({ state: 'fail', summary: expect.stringMatching(/^the previous storage probe has not returned for \d+ s \(hung mount\?\)$/) });
    expect(second.ms).toBeLessThan(50);
  });

  it('reads health components and marks unhealthy ones', async () => {
    const deps = fakeStatusDeps({ health: { value: { httpStatus: 503, status: 'unhealthy', components: { database: { status: 'unhealthy', detail: 'connection refused' }, storage: { status: 'healthy' } } } } });
    const health = (await collectStatus(deps)).probes.find((p) => p.id === 'health')!;
    expect(health).toMatchObject({ state: 'fail', summary: 'HTTP 503, unhealthy: database unhealthy', details: ['database: unhealthy (connection refused)', 'storage: healthy'] });
  });

  it('treats a degraded health answer as a warning', async () => {
    const deps = fakeStatusDeps({ health: { value: { httpStatus: 200, status: 'degraded', components: {} } } });
    expect((await collectStatus(deps)).probes.find((p) => p.id === 'health')!.state).toBe('warn');
  });

  it.each([
    [50, 'ok'],
    [85, 'warn'],
    [95, 'fail'],
  ] as const)('judges storage at %i %% used as %s against a 90 %% threshold', async (usedPct, state) => {
    const deps = fakeStatusDeps({ storage: { value: { kind: 'local', path: '/u', usedPct, freeBytes: 1, fileCount: 1, fileCountComplete: true } } });
    expect((await collectStatus(deps)).probes.find((p) => p.id === 'storage')!.state).toBe(state);
  });

  it('reports a file count cut short by its budget as a lower bound', async () => {
    const deps = fakeStatusDeps({ storage: { value: { kind: 'local', path: '/u', usedPct: 10, freeBytes: 1024, fileCount: 123_456, fileCountComplete: false } } });
    expect((await collectStatus(deps)).probes.find((p) => p.id === 'storage')!.summary).toBe('10.0 % used, 1.0 KiB free, at least 123456 files');
  });

  it('warns when PagerDuty is not configured, and when metrics have no samples', async () => {
    const report = await collectStatus(fakeStatusDeps({ metrics: { value: { httpStatus: 200, samples: 0 } } }, { pagerdutyConfigured: false }));
    expect(report.probes.find((p) => p.id === 'pagerduty')).toMatchObject({ state: 'warn', summary: expect.stringContaining('PAGERDUTY_ROUTING_KEY unset') });
    expect(report.probes.find((p) => p.id === 'metrics')!.state).toBe('warn');
  });
});

describe('the drills probe', () => {
  const drillsProbe = async (drills: Run[]) => (await collectStatus(fakeStatusDeps({}, { drills: async () => drills }))).probes.find((p) => p.id === 'drills')!;
  const drill = (change: Partial<Run>, summary: Record<string, unknown> = {}): Run => ({ ...RECENT_DRILL, ...change, summary: { ...RECENT_DRILL.summary, ...summary } });

  it('shows the newest drill’s RTO against the target', async () => {
    const probe = await drillsProbe([RECENT_DRILL]);
    expect(probe).toMatchObject({ state: 'ok', summary: 'RTO 12 min (target 4 h), newest drill 6 d 6 h ago' });
    expect(probe.details[0]).toBe('2026-11-20: succeeded, RTO 12 min (run-20261120T050000Z-0badf00d)');
  });

  it('warns when there is no drill at all, or none in the last 35 days', async () => {
    expect(await drillsProbe([])).toMatchObject({ state: 'warn', summary: 'no drill yet — RTO unmeasured (target 4 h)' });
    const old = drill({ startedAt: '2026-10-01T05:00:00.000Z', finishedAt: '2026-10-01T05:12:00.000Z' });
    expect(await drillsProbe([old])).toMatchObject({ state: 'warn', summary: expect.stringContaining('none in the last 35 days') });
  });

  it('fails when the newest drill failed or took longer than the RTO, ignoring one still running', async () => {
    const failed = drill({ status: 'failed' }, { failedStep: 'documents: read every document of the snapshot back into a scratch folder', withinRto: false });
    const running = drill({ status: 'running', startedAt: '2026-11-26T11:59:00.000Z' });
    const probe = await drillsProbe([running, failed, RECENT_DRILL]);
    expect(probe).toMatchObject({ state: 'fail', summary: expect.stringMatching(/^newest drill failed 6 d 6 h ago — RTO not achieved/) });
    expect(probe.details[0]).toContain('failed at "documents: read every document');
    const slow = drill({}, { rtoMs: 5 * 3_600_000, withinRto: false });
    expect(await drillsProbe([slow])).toMatchObject({ state: 'fail', summary: expect.stringContaining('took 5 h, over the RTO target 4 h') });
  });
});
