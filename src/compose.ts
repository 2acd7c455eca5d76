import type { Logger } from 'pino';
import { PostgresDmsDatabase } from './adapters/dms/postgres-database.ts';
import { HttpDmsEndpoints } from './adapters/dms/http-endpoints.ts';
import { SqliteDmsDatabase } from './adapters/dms/sqlite-database.ts';
import { LocalBackupRepository } from './adapters/repository/local-backup-repository.ts';
import { S3BackupRepository } from './adapters/repository/s3-backup-repository.ts';
import { createS3Client, parseS3Url } from './adapters/s3/client.ts';
import { openStateStore } from './adapters/state/kysely-store.ts';
import { LocalDocumentStore } from './adapters/storage/local-document-store.ts';
import { S3DocumentStore } from './adapters/storage/s3-document-store.ts';
import type { DispatchDeps } from './commands/dispatch.ts';
import type { Config } from './config/load.ts';
import { DrError, errorText } from './domain/errors.ts';
import { createMetrics, type BotMetrics } from './observability/metrics.ts';
import type { BackupRepository } from './ports/backup-repository.ts';
import type { DmsDatabase, DocumentStore } from './ports/dms.ts';
import { singleFlight } from './procedures/single-flight.ts';
import { collectStatus, type StatusDeps } from './procedures/status.ts';

/** Builds every port from the config; the one place that picks adapters. Shared by the bot and the CLI. */
export async function composeDeps(config: Config, logger: Logger, metrics: BotMetrics = createMetrics()): Promise<DispatchDeps> {
  let store;
  try {
    store = await openStateStore(config.env.state);
  } catch (error) {
    throw new DrError('STATE_UNAVAILABLE', `Cannot open the bot's state store (DR_STATE): ${errorText(error)}`, { cause: error });
  }
  const status = statusDeps(config);
  // Fifty people typing /dr status at once get one probe run, not fifty.
  return { config, store, status, currentStatus: singleFlight(() => collectStatus(status)), metrics, logger };
}

/** The ports `/dr status` probes. */
export function statusDeps(config: Config): StatusDeps {
  return {
    systemName: config.system.name,
    database: dmsDatabase(config),
    storage: documentStore(config),
    endpoints: new HttpDmsEndpoints(config.system.health_url, config.system.metrics_url),
    repository: backupRepository(config),
    pagerdutyConfigured: config.env.pagerdutyRoutingKey !== undefined,
    thresholds: { storageUsedPct: config.alerts.thresholds.storage_used_pct },
    objectives: { rpoMs: config.objectives.rpo },
    probeTimeoutMs: config.probes.timeout,
    now: () => new Date(),
  };
}

function dmsDatabase(config: Config): DmsDatabase {
  const url = config.database.url;
  return url.startsWith('sqlite:') ? new SqliteDmsDatabase(url.slice('sqlite:'.length)) : new PostgresDmsDatabase(url);
}

function documentStore(config: Config): DocumentStore {
  const storage = config.storage;
  if (storage.kind === 'local') return new LocalDocumentStore(storage.path);
  const client = createS3Client({ region: storage.region, endpoint: storage.endpoint, forcePathStyle: storage.force_path_style });
  return new S3DocumentStore(client, storage.bucket, storage.region);
}

function backupRepository(config: Config): BackupRepository {
  const repository = config.backups.repository;
  if (!repository.startsWith('s3://')) return new LocalBackupRepository(repository);
  const { bucket, prefix } = parseS3Url(repository);
  const client = createS3Client({ region: config.backups.region ?? 'us-east-1', endpoint: config.backups.endpoint });
  return new S3BackupRepository(client, bucket, prefix);
}
