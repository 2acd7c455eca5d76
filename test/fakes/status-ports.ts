import type { BackupRepository, BackupSummary } from '../../src/ports/backup-repository.ts';
import type { DatabaseFacts, DmsDatabase, DmsEndpoints, DocumentStore, HealthFacts, StorageFacts } from '../../src/ports/dms.ts';
import type { StatusDeps } from '../../src/procedures/status.ts';
import type { Run } from '../../src/domain/run.ts';

/** An answer a fake port gives: a value, an error, never (a hung dependency that honours abort), or never even when aborted (a hung syscall). */
export type Scripted<T> = { value: T } | { error: Error } | 'hang' | 'stuck';

function play<T>(script: Scripted<T>, signal: AbortSignal): Promise<T> {
  if (script === 'hang') return new Promise<T>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
  if (script === 'stuck') return new Promise<T>(() => {});
  return 'error' in script ? Promise.reject(script.error) : Promise.resolve(script.value);
}

/** Healthy answers for every port, each overridable. */
export interface StatusScript {
  database: Scripted<DatabaseFacts>;
  health: Scripted<HealthFacts>;
  metrics: Scripted<{ httpStatus: number; samples: number }>;
  /** The Prometheus text the metrics endpoint answers. */
  scrape: Scripted<string>;
  storage: Scripted<StorageFacts>;
  backups: Scripted<BackupSummary[]>;
}

export const HEALTHY: StatusScript = {
  database: { value: { engine: 'sqlite', version: '3.45.0', integrity: 'ok', counts: { documents: 50, users: 10, tenants: 3 } } },
  health: { value: { httpStatus: 200, status: 'healthy', components: { database: { status: 'healthy' }, storage: { status: 'healthy' } } } },
  metrics: { value: { httpStatus: 200, samples: 120 } },
  scrape: { value: '# TYPE up gauge\nup 1\n' },
  storage: { value: { kind: 'local', path: '/srv/uploads', usedPct: 40, freeBytes: 10 * 1024 ** 3, fileCount: 50, fileCountComplete: true } },
  backups: { value: [] },
};

/** A drill that succeeded six days before the fake clock, well within the 4 h RTO. */
export const RECENT_DRILL: Run = {
  id: 'run-20261120T050000Z-0badf00d',
  procedure: 'drill',
  actor: 'scheduler',
  status: 'succeeded',
  startedAt: '2026-11-20T05:00:00.000Z',
  finishedAt: '2026-11-20T05:12:00.000Z',
  heartbeatAt: '2026-11-20T05:12:00.000Z',
  owner: 'test',
  steps: [],
  summary: { durationMs: 720_000, rtoMs: 720_000, rtoTargetMs: 4 * 3_600_000, withinRto: true },
};

/** StatusDeps over scripted fakes, at a fixed clock. */
export function fakeStatusDeps(overrides: Partial<StatusScript> = {}, extra: Partial<StatusDeps> = {}): StatusDeps {
  const script = { ...HEALTHY, ...overrides };
  const database: DmsDatabase = {
    location: 'sqlite:/srv/alphha.db',
    probe: (signal) => play(script.database, signal),
    // A database that answers the probe answers the ping: one script drives both.
    ping: async (signal) => void (await play(script.database, signal)),
  };
  const storage: DocumentStore = { location: '/srv/uploads', probe: (signal) => play(script.storage, signal) };
  const endpoints: DmsEndpoints = {
    health: (signal) => play(script.health, signal),
    metrics: (signal) => play(script.metrics, signal),
    scrape: (signal) => play(script.scrape, signal),
  };
  const repository: BackupRepository = { location: '/srv/backups', listBackups: (signal) => play(script.backups, signal) };
  return {
    systemName: 'alphha-test',
    database,
    storage,
    endpoints,
    repository,
    pagerdutyConfigured: true,
    backupEncryption: true,
    thresholds: { storageUsedPct: 90 },
    objectives: { rpoMs: 3_600_000, rtoMs: 4 * 3_600_000 },
    drills: async () => [RECENT_DRILL],
    probeTimeoutMs: 200,
    now: () => new Date('2026-11-26T12:00:00Z'),
    ...extra,
  };
}
