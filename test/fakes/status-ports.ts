import type { BackupRepository, BackupSummary } from '../../src/ports/backup-repository.ts';
import type { DatabaseFacts, DmsDatabase, DmsEndpoints, DocumentStore, HealthFacts, StorageFacts } from '../../src/ports/dms.ts';
import type { StatusDeps } from '../../src/procedures/status.ts';

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
  storage: Scripted<StorageFacts>;
  backups: Scripted<BackupSummary[]>;
}

export const HEALTHY: StatusScript = {
  database: { value: { engine: 'sqlite', version: '3.45.0', integrity: 'ok', counts: { documents: 50, users: 10, tenants: 3 } } },
  health: { value: { httpStatus: 200, status: 'healthy', components: { database: { status: 'healthy' }, storage: { status: 'healthy' } } } },
  metrics: { value: { httpStatus: 200, samples: 120 } },
  storage: { value: { kind: 'local', path: '/srv/uploads', usedPct: 40, freeBytes: 10 * 1024 ** 3, fileCount: 50, fileCountComplete: true } },
  backups: { value: [] },
};

/** StatusDeps over scripted fakes, at a fixed clock. */
export function fakeStatusDeps(overrides: Partial<StatusScript> = {}, extra: Partial<StatusDeps> = {}): StatusDeps {
  const script = { ...HEALTHY, ...overrides };
  const database: DmsDatabase = { location: 'sqlite:/srv/alphha.db', probe: (signal) => play(script.database, signal) };
  const storage: DocumentStore = { location: '/srv/uploads', probe: (signal) => play(script.storage, signal) };
  const endpoints: DmsEndpoints = { health: (signal) => play(script.health, signal), metrics: (signal) => play(script.metrics, signal) };
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
    objectives: { rpoMs: 3_600_000 },
    probeTimeoutMs: 200,
    now: () => new Date('2026-11-26T12:00:00Z'),
    ...extra,
  };
}
