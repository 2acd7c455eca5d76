import type { Logger } from 'pino';
import { PostgresDmsDatabase, redactUrl } from './adapters/dms/postgres-database.ts';
import { HttpDmsEndpoints } from './adapters/dms/http-endpoints.ts';
import { SqliteDmsDatabase } from './adapters/dms/sqlite-database.ts';
import { LocalBackupRepository } from './adapters/repository/local-backup-repository.ts';
import { S3BackupRepository } from './adapters/repository/s3-backup-repository.ts';
import { createS3Client, parseS3Url } from './adapters/s3/client.ts';
import type { S3Place } from './adapters/s3/errors.ts';
import { openStateStore } from './adapters/state/kysely-store.ts';
import { unavailableStateStore } from './adapters/state/unavailable-store.ts';
import { LocalDocumentStore } from './adapters/storage/local-document-store.ts';
import { S3DocumentStore } from './adapters/storage/s3-document-store.ts';
import type { DispatchDeps } from './commands/dispatch.ts';
import type { Config } from './config/load.ts';
import { useFingerprintKey, type Secret } from './config/secret.ts';
import { AgePassphrase } from './adapters/crypto/age-passphrase.ts';
import { EncryptedBackupRepository } from './adapters/repository/encrypted-backup-repository.ts';
import { DrError, errorText } from './domain/errors.ts';
import { createMetrics, registerBackupGauges, registerOutboxGauges, type BotMetrics } from './observability/metrics.ts';
import { BACKUP_KINDS, type BackupRepository, type BackupSummary, type WritableBackupRepository } from './ports/backup-repository.ts';
import { rebuildCatalog, verifyStoredBackups } from './procedures/verify-backups.ts';
import { pruneBackups } from './procedures/prune-backups.ts';
import { withDeadline, withJobDeadline } from './procedures/deadline.ts';
import type { StateStore } from './ports/state-store.ts';
import { backupDatabase, type BackupDbDeps } from './procedures/backup-db.ts';
import { backupStorage, type BackupStorageDeps } from './procedures/backup-storage.ts';
import { backupConfig } from './procedures/backup-config.ts';
import type { SingleFileBackupDeps } from './procedures/single-file-backup.ts';
import { TarConfigArchiver } from './adapters/config/tar-config-archiver.ts';
import { LocalDocumentSource } from './adapters/storage/local-document-source.ts';
import { S3DocumentSource } from './adapters/storage/s3-document-source.ts';
import { DatabaseDocumentChecksums } from './adapters/dms/document-checksums.ts';
import { DatabaseAuditLedger } from './adapters/dms/audit-ledger.ts';
import { LocalDocumentHasher } from './adapters/storage/local-document-hasher.ts';
import { StreamingDocumentHasher } from './adapters/storage/s3-document-hasher.ts';
import { verifyChecksums } from './procedures/verify-checksums.ts';
import { availableParallelism, tmpdir } from 'node:os';
import { SqliteDumper } from './adapters/dms/sqlite-dumper.ts';
import { PostgresDumper } from './adapters/dms/postgres-dumper.ts';
import { BOT_VERSION } from './version.ts';
import type { DmsDatabase, DocumentStore } from './ports/dms.ts';
import { singleFlight } from './procedures/single-flight.ts';
import { collectStatus, type StatusDeps } from './procedures/status.ts';
import { processAlive, THIS_PROCESS } from './adapters/process-owner.ts';
import { randomBytes } from 'node:crypto';
import { record, requireAudit } from './commands/dispatch.ts';
import type { GateDeps } from './gates/gates.ts';
import { createRoleDirectory } from './gates/roles.ts';
import type { AlertIntakeDeps } from './alerts/ingest-signals.ts';
import { createWakeSignal, outboxAlertSink } from './alerts/sink.ts';
import type { GatedProcedures } from './gates/gated-procedures.ts';
import { executeRun, type EngineDeps, type RunObserver } from './procedures/engine.ts';
import { leftoversOf } from './procedures/run-leftovers.ts';
import type { Run } from './domain/run.ts';
import { chooseBackupToVerify, verifyBackupRun, type VerifyBackupDeps } from './procedures/verify-backup.ts';
import { drillRun, type DrillDeps } from './procedures/drill.ts';
import type { ProgressUpdate } from './commands/types.ts';
import { planRestoreDb, planRestoreUndo, restoreDbRun, restoreUndoRun, type RestoreDbDeps } from './procedures/restore-db.ts';
import { ShellServiceControl } from './adapters/service/shell-service.ts';
import { KnownSecrets } from './adapters/config/known-secrets.ts';
import { SqliteRestorer } from './adapters/dms/sqlite-restorer.ts';
import { PostgresRestorer } from './adapters/dms/postgres-restorer.ts';
import type { DatabaseRestorer, DocumentHasher, DocumentWriter } from './ports/dms.ts';
import { planRestoreStorage, restoreStorageRun, type RestoreStorageDeps } from './procedures/restore-storage.ts';
import { planRestoreAll, restoreAllRun, type RestoreAllDeps } from './procedures/restore-all.ts';
import { isolateRun, planIsolate, type IsolateDeps } from './procedures/isolate.ts';
import { planRotateSecrets, rotateSecretsRun, type RotateSecretsDeps } from './procedures/rotate-secrets.ts';
import { LocalDocumentWriter } from './adapters/storage/local-document-writer.ts';
import { S3DocumentWriter } from './adapters/storage/s3-document-writer.ts';

/** The state store's name for the key secret fingerprints are made with. */
export const FINGERPRINT_KEY = 'fingerprint';

/** This process, as recorded on the runs it executes: `host.pid.random`. */
export const PROCESS_OWNER = `${THIS_PROCESS}.${randomBytes(3).toString('hex')}`;

/**
 * Whether the process that owns a run (or a lease) still exists: known only for processes on this host. An
 * owner with this process's host and pid but another random part is an earlier life of this pid (a container
 * restarted as pid 1 again): dead.
 */
export function processOwnerAlive(owner: string): boolean | undefined {
  if (owner.startsWith(`${THIS_PROCESS}.`) && owner !== PROCESS_OWNER) return false;
  return processAlive(owner);
}



/** Builds every port from the config; the one place that picks adapters. Shared by the bot and the CLI. */
export async function composeDeps(
  config: Config,
  logger: Logger,
  options: { metrics?: BotMetrics; tolerateStateFailure?: boolean } = {},
): Promise<DispatchDeps> {
  const metrics = options.metrics ?? createMetrics();
  let store: StateStore;
  try {
    store = await openStateStore(config.env.state);
  } catch (error) {
    if (!options.tolerateStateFailure) throw new DrError('STATE_UNAVAILABLE', `Cannot open the bot's state store (DR_STATE): ${errorText(error)}`, { cause: error });
    // The terminal is the way in when the bot's own infrastructure is down: run, but say nothing is recorded.
    logger.warn({ err: errorText(error) }, 'state store unavailable: commands run but are not audited');
    store = unavailableStateStore(/^postgres/.test(config.env.state) ? 'postgres' : 'sqlite', errorText(error));
  }
  // Fingerprints are keyed by this installation's key, so every process sharing the store shows the same ones.
  await store.installationKey(FINGERPRINT_KEY).then(useFingerprintKey, (error: unknown) => logger.warn({ err: errorText(error) }, 'no installation key: secret fingerprints hold for this process only'));
  const repository = backupRepository(config);
  const status = statusDeps(config, repository, store);
  // A backup killed mid-way (crash, kill -9) leaves only staged files: they never became backups.
  registerBackupGauges(metrics, async () => {
    const newest: Partial<Record<'db' | 'storage' | 'config', string>> = {};
    for (const manifest of await store.listCatalog({ limit: 500 })) {
      if (manifest.verified && !newest[manifest.kind]) newest[manifest.kind] = manifest.finished_at;
    }
    return newest;
  });
  registerOutboxGauges(metrics, () => store.outboxHealth());
  const removed = await repository.cleanStaging().catch(() => 0);
  if (removed > 0) logger.warn({ removed }, 'removed leftovers of interrupted backups');
  const now = () => new Date();
  // Every secret value the bot knows, scrubbed from what service commands print.
  const secrets = KnownSecrets.of(config);
  const engine: EngineDeps = { store, now, owner: PROCESS_OWNER, logger };
  const restoreDeps: RestoreDbDeps = {
    store,
    repository,
    restorer: databaseRestorer(config),
    service: new ShellServiceControl(config.service, config.service.timeout, config.baseDir, { env: config.service.env, redact: (text) => secrets.redact(text) }),
    endpoints: status.endpoints,
    liveLocation: status.database.location,
    healthDeadlineMs: config.service.timeout,
    now,
  };
  const restoreStorageDeps: RestoreStorageDeps = {
    store,
    repository,
    storage: status.storage,
    checksums: documentChecksums(config),
    openHasher: () => documentHasher(config),
    writer: documentWriter(config),
    concurrency: hashConcurrency(config),
    now,
  };
  const restoreAllDeps: RestoreAllDeps = {
    db: restoreDeps,
    storage: restoreStorageDeps,
    archiver: new TarConfigArchiver(config.backups.config_paths, config.env.backupKey),
    configRoot: '/',
    systemName: config.system.name,
  };
  const verifyBackupDeps: VerifyBackupDeps = {
    store,
    repository,
    restorer: restoreDeps.restorer,
    live: status.database,
    liveTimeoutMs: config.probes.timeout,
    now,
  };
  const drillDeps: DrillDeps = {
    store,
    repository,
    restorer: restoreDeps.restorer,
    archiver: restoreAllDeps.archiver,
    scratchWriter: (root) => new LocalDocumentWriter(root),
    scratchRoot: tmpdir(),
    concurrency: hashConcurrency(config),
    rtoTargetMs: config.objectives.rto,
    now,
  };
  // Built when asked: it needs the incidents and the alert sink, which are part of `deps` below.
  const isolateDeps = (): IsolateDeps => ({
    incidents: deps.incidents,
    alerts: deps.alertSink,
    service: restoreDeps.service,
    isolateCommands: config.service.isolate,
    dumper: config.database.url.startsWith('sqlite:') ? new SqliteDumper(config.database.url.slice('sqlite:'.length)) : new PostgresDumper(config.database.url),
    documents: backupStorageDeps(config, store, repository).source,
    envFile: config.secrets.env_file,
    evidenceDir: config.secrets.evidence_dir,
    ...(config.env.backupKey ? { cipher: backupCipher(config.env.backupKey) } : {}),
    systemName: config.system.name,
    now,
  });
  const rotateSecretsDeps: RotateSecretsDeps = {
    store,
    service: restoreDeps.service,
    endpoints: status.endpoints,
    secrets: { envFile: config.secrets.env_file, keys: config.secrets.keys, keepPrevious: config.secrets.keep_previous },
    healthDeadlineMs: config.service.timeout,
    now,
  };
  const gated: GatedProcedures = {
    plan: async (procedure, request) => {
      if (procedure === 'restore-db') return planRestoreDb(restoreDeps, request.backup ?? 'latest');
      if (procedure === 'restore-storage') return planRestoreStorage(restoreStorageDeps, request.backup ?? 'latest');
      if (procedure === 'restore-all') return planRestoreAll(restoreAllDeps);
      if (procedure === 'isolate') return planIsolate(isolateDeps());
      if (procedure === 'restore-undo') return planRestoreUndo(restoreDeps);
      if (procedure === 'rotate-secrets') return planRotateSecrets(rotateSecretsDeps, (request.keys ?? '').split(' ').filter(Boolean));
      throw new DrError('COMMAND_NOT_BUILT', `${procedure} is not built yet; nothing was run.`);
    },
    runSpec: (plan, origin) => {
      if (plan.procedure === 'restore-db') return restoreDbRun(restoreDeps, plan, origin) as never;
      if (plan.procedure === 'restore-undo') return restoreUndoRun(restoreDeps, plan, origin) as never;
      if (plan.procedure === 'restore-storage') return restoreStorageRun(restoreStorageDeps, plan, origin) as never;
      if (plan.procedure === 'restore-all') return restoreAllRun(restoreAllDeps, plan, origin);
      if (plan.procedure === 'isolate') return isolateRun(isolateDeps(), plan, origin) as never;
      if (plan.procedure === 'rotate-secrets') return rotateSecretsRun(rotateSecretsDeps, plan, origin) as never;
      throw new DrError('COMMAND_NOT_BUILT', `${plan.procedure} is not built yet; nothing was run.`);
    },
  };
  const roles = createRoleDirectory(config.slack.roles, (group, error) => logger.warn({ group, err: errorText(error) }, 'could not list the members of a Slack user group'));
  const gates: GateDeps = {
    store,
    config,
    now,
    audit: (who, event, gate, detail = {}, options = {}) =>
      (options.required ? requireAudit : record)(deps, { source: who.source, actor: who.actor, channel: who.channel, text: `${gate.plan.title} (${gate.id})` }, gate.procedure, event, { gateId: gate.id, planHash: gate.plan.hash, ...detail }),
    replan: (gate) => gated.plan(gate.procedure, gate.plan.request),
    holdsRole: (role, user) => roles.holds(role, user),
    // Dead on this host by its pid; elsewhere, alive while its heartbeat is fresh.
    runAlive: (run) => processOwnerAlive(run.owner) ?? Date.now() - Date.parse(run.heartbeatAt) < 60_000,
  };
  const outboxWake = createWakeSignal();
  const alertIntake: AlertIntakeDeps = {
    store,
    routing: { channels: config.slack.channels, paging: config.env.pagerdutyRoutingKey !== undefined, email: config.email !== undefined },
    now,
    kick: outboxWake.fire,
  };
  const deps: DispatchDeps = {
    gated,
    gates,
    roles,
    alertIntake,
    alertSink: outboxAlertSink(alertIntake),
    outboxWake,
    incidents: {
      store,
      stakeholdersChannel: config.slack.channels.stakeholders,
      contacts: { ...(config.contacts.security ? { security: config.contacts.security } : {}), ...(config.contacts.management ? { management: config.contacts.management } : {}), ...(config.contacts.dba ? { dba: config.contacts.dba } : {}) },
      objectives: { rtoMs: config.objectives.rto, rpoMs: config.objectives.rpo },
      now,
      kick: outboxWake.fire,
    },
    engine,
    removeRunLeftovers: (run) => removeRunLeftovers(restoreDeps.restorer, run),
    config,
    store,
    status,
    // Fifty people typing /dr status at once get one probe run, not fifty.
    currentStatus: singleFlight(() => collectStatus(status)),
    backupDatabase: (progress) => backupDatabase({ ...backupDbDeps(config, store, repository), ...(progress ? { progress } : {}) }),
    backupStorage: (progress) => backupStorage({ ...backupStorageDeps(config, store, repository), ...(progress ? { progress } : {}) }),
    auditLedger: new DatabaseAuditLedger(config.database.url),
    verifyBackup: async (choice, progress, actor = 'scheduler') =>
      executeRun(engine, verifyBackupRun(verifyBackupDeps, await chooseBackupToVerify(verifyBackupDeps, choice), { actor }), stepProgress(progress)),
    drill: (progress, actor = 'scheduler') => executeRun(engine, drillRun({ ...drillDeps, ...(progress ? { progress } : {}) }, { actor }), stepProgress(progress)),
    verifyChecksums: async (progress) => {
      const hasher = documentHasher(config);
      try {
        return await verifyChecksums({ checksums: documentChecksums(config), hasher, concurrency: hashConcurrency(config), ...(progress ? { progress } : {}) });
      } finally {
        await hasher.close();
      }
    },
    pruneBackups: () =>
      withJobDeadline(config.objectives.rto, 'the prune', (signal) =>
        pruneBackups({
          repository: repository,
          store,
          policy: config.backups.retention,
          timeZone: config.backups.timezone,
          now: () => new Date(),
          // No snapshot may take longer than the RTO, so an object unreferenced for that long is truly orphaned.
          objectGraceMs: config.objectives.rto,
          signal,
        }),
      ),
    verifyBackups: (kind) => verifyStoredBackups({ repository: repository, store }, kind),
    rebuildCatalog: () => withDeadline(config.objectives.rto, (signal) => rebuildCatalog({ repository: repository, store }, signal)),
    backupConfig: (progress) =>
      backupConfig({ ...singleFileDeps(config, store, repository), archiver: new TarConfigArchiver(config.backups.config_paths, config.env.backupKey), ...(progress ? { progress } : {}) }),
    metrics,
    logger,
  };
  return deps;
}

/** Shows which step a run is on as the progress of the command that started it. */
function stepProgress(progress: ((update: ProgressUpdate) => void) | undefined): RunObserver {
  let shown: string | undefined;
  return (run) => {
    const index = run.steps.findIndex((step) => step.status === 'running');
    const step = run.steps[index];
    if (!progress || !step || step.name === shown) return;
    shown = step.name;
    progress({ step: `${step.name} (step ${index + 1} of ${run.steps.length})`, bytesDone: 0 });
  };
}

/** The client for the S3 documents bucket, bounded like every S3 request (backups.s3_timeout, s3_attempts). */
function s3ClientFor(config: Config, storage: Extract<Config['storage'], { kind: 's3' }>) {
  return createS3Client({ region: storage.region, endpoint: storage.endpoint, forcePathStyle: storage.force_path_style, ...s3Limits(config) });
}

function s3Limits(config: Config): { idleTimeoutMs: number; maxAttempts: number } {
  return { idleTimeoutMs: config.backups.s3_timeout, maxAttempts: config.backups.s3_attempts };
}

/** Where the S3 documents bucket is, for messages that name it. */
function documentsPlace(config: Config, storage: Extract<Config['storage'], { kind: 's3' }>): S3Place {
  return { bucket: storage.bucket, role: 'documents', location: `s3://${storage.bucket}`, endpoint: storage.endpoint, timeoutMs: config.backups.s3_timeout };
}

/** `documents.checksum_sha256` by storage path: `file_path` mapped through the storage layout (DESIGN §4 `storage`). */
function documentChecksums(config: Config): DatabaseDocumentChecksums {
  const storage = config.storage;
  const layout = storage.kind === 'local' ? { root: storage.path, ...(storage.path_prefix ? { prefix: storage.path_prefix } : {}) } : {};
  return new DatabaseDocumentChecksums(config.database.url, layout);
}

/** Hashes documents where they live: worker threads over a local folder, streams from S3. */
function documentHasher(config: Config): DocumentHasher {
  const storage = config.storage;
  return storage.kind === 'local' ? new LocalDocumentHasher(storage.path) : new StreamingDocumentHasher(new S3DocumentSource(s3ClientFor(config, storage), documentsPlace(config, storage)));
}

// A few files queued per worker keeps every core busy without holding the whole list in flight.
function hashConcurrency(config: Config): number {
  return config.storage.kind === 'local' ? availableParallelism() * 4 : 16;
}

/** Writes documents back where the DMS keeps them. */
function documentWriter(config: Config): DocumentWriter {
  const storage = config.storage;
  return storage.kind === 'local' ? new LocalDocumentWriter(storage.path) : new S3DocumentWriter(s3ClientFor(config, storage), documentsPlace(config, storage));
}

function databaseRestorer(config: Config): DatabaseRestorer {
  const url = config.database.url;
  return url.startsWith('sqlite:') ? new SqliteRestorer(url.slice('sqlite:'.length)) : new PostgresRestorer(url);
}

/** The ports `/dr status` probes. */
function statusDeps(config: Config, repository: BackupRepository, store: StateStore): StatusDeps {
  return {
    systemName: config.system.name,
    database: dmsDatabase(config),
    storage: documentStore(config),
    endpoints: new HttpDmsEndpoints(config.system.health_url, config.system.metrics_url),
    repository,
    pagerdutyConfigured: config.env.pagerdutyRoutingKey !== undefined,
    backupEncryption: config.env.backupKey !== undefined,
    thresholds: { storageUsedPct: config.alerts.thresholds.storage_used_pct },
    objectives: { rpoMs: config.objectives.rpo, rtoMs: config.objectives.rto },
    drills: () => store.listRuns({ procedure: 'drill', limit: 10 }),
    outbox: (options) => store.outboxHealth(options),
    catalog: () => newestCatalogued(store),
    probeTimeoutMs: config.probes.timeout,
    now: () => new Date(),
  };
}

/** The newest catalogued backups of each kind, as summaries (enough to find the newest verified one). */
async function newestCatalogued(store: StateStore): Promise<BackupSummary[]> {
  // Enough rows that a run of unverified backups cannot hide the newest verified one.
  const perKind = await Promise.all(BACKUP_KINDS.map((kind) => store.listCatalog({ kind, limit: 500 })));
  return perKind.flat().map((m) => ({ id: m.id, kind: m.kind, finishedAt: m.finished_at, sizeBytes: m.size_bytes, verified: m.verified }));
}

/** Where one-file backups go, or a DrError naming what this setup lacks. */
function singleFileDeps(config: Config, store: StateStore, repository: WritableBackupRepository): SingleFileBackupDeps {
  // A backup slower than the RTO could not be restored in time either.
  return { repository, store, timeoutMs: config.objectives.rto, now: () => new Date(), botVersion: BOT_VERSION };
}

/** What a database backup needs. */
function backupDbDeps(config: Config, store: StateStore, repository: WritableBackupRepository): BackupDbDeps {
  const url = config.database.url;
  const sqlite = url.startsWith('sqlite:');
  return {
    ...singleFileDeps(config, store, repository),
    dumper: sqlite ? new SqliteDumper(url.slice('sqlite:'.length)) : new PostgresDumper(url),
    sourceLocation: sqlite ? url : redactUrl(url),
  };
}

/** What a document snapshot needs, or a DrError naming what this setup lacks. */
function backupStorageDeps(config: Config, store: StateStore, repository: WritableBackupRepository): BackupStorageDeps {
  const storage = config.storage;
  const source =
    storage.kind === 'local'
      ? new LocalDocumentSource(storage.path)
      : new S3DocumentSource(s3ClientFor(config, storage), documentsPlace(config, storage));
  return {
    source,
    checksums: documentChecksums(config),
    repository,
    store,
    // As for one-file backups: a snapshot slower than the RTO could not be restored in time either.
    timeoutMs: config.objectives.rto,
    now: () => new Date(),
    botVersion: BOT_VERSION,
  };
}

function dmsDatabase(config: Config): DmsDatabase {
  const url = config.database.url;
  // A connection attempt must not outlive the probe's deadline (it would keep the CLI alive after its report).
  return url.startsWith('sqlite:') ? new SqliteDmsDatabase(url.slice('sqlite:'.length)) : new PostgresDmsDatabase(url, config.probes.timeout);
}

function documentStore(config: Config): DocumentStore {
  const storage = config.storage;
  if (storage.kind === 'local') return new LocalDocumentStore(storage.path, config.probes.timeout / 2);
  return new S3DocumentStore(s3ClientFor(config, storage), documentsPlace(config, storage), storage.region);
}

/** The backup repository; with DR_BACKUP_KEY set, everything stored in it is age-encrypted with that passphrase. */
function backupRepository(config: Config): WritableBackupRepository {
  const key = config.env.backupKey;
  const repository = plainRepository(config);
  return key ? new EncryptedBackupRepository(repository, backupCipher(key)) : repository;
}

// One cipher per key for the process: its scrypt header is made once and its opened headers are remembered.
const ciphers = new Map<string, AgePassphrase>();
function backupCipher(key: Secret): AgePassphrase {
  let cipher = ciphers.get(key.reveal());
  if (!cipher) ciphers.set(key.reveal(), (cipher = new AgePassphrase(key.reveal())));
  return cipher;
}

function plainRepository(config: Config): WritableBackupRepository {
  const repository = config.backups.repository;
  if (!repository.startsWith('s3://')) return new LocalBackupRepository(repository);
  const { bucket, prefix } = parseS3Url(repository);
  const client = createS3Client({ region: config.backups.region ?? 'us-east-1', endpoint: config.backups.endpoint, ...s3Limits(config) });
  return new S3BackupRepository(client, bucket, prefix, { endpoint: config.backups.endpoint, timeoutMs: config.backups.s3_timeout });
}

/** Drops the scratch database an interrupted restore, verify or drill was filling (a no-op when there is none). */
async function removeRunLeftovers(restorer: DatabaseRestorer, run: Run): Promise<{ said: string[]; pending: boolean }> {
  const label = leftoversOf(run)?.scratchLabel;
  if (!label) return { said: [], pending: false };
  const scratch = restorer.scratchFor(label);
  try {
    await restorer.drop(scratch);
    return { said: [`removed its unfinished scratch database ${scratch.location} (if it was there)`], pending: false };
  } catch (error) {
    return { said: [`could not remove its scratch database ${scratch.location} (tried again every minute): ${errorText(error)}`], pending: true };
  }
}
