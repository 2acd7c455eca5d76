import { DrError, errorText } from '../domain/errors.ts';
import { sealPlan, type Plan } from '../domain/plan.ts';
import type { ConfigArchiver } from '../ports/config-archive.ts';
import { type RunSpec, type StepDefinition, runOriginFields } from './engine.ts';
import { backupPointInTime, chooseBackup, expectedDurationMs, plannedBackup, runLabel } from './plan-helpers.ts';
import { RESTORE_DB_STEPS, restoreDbRun, type RestoreDbDeps } from './restore-db.ts';
import { RESTORE_STORAGE_STEPS, restoreStorageRun, type RestoreStorageDeps } from './restore-storage.ts';
import { runServiceCommand } from './service-steps.ts';
import { sha256OfFile } from '../backup/file-hash.ts';

/** What `restore all` needs: the database and storage restores, and the config archive's reader. */
export interface RestoreAllDeps {
  db: RestoreDbDeps;
  storage: RestoreStorageDeps;
  archiver: ConfigArchiver;
  /** Where config files go back to: `/` on the live system. */
  configRoot: string;
  systemName: string;
}

const DNS_REMINDER = 'DNS is not automated: once the run is green, point the DMS host name at this system (runbook §3.3 step 5).';

/** The plan of `restore all` (runbook §3.3): config → database → documents → start → migrations → health, one run. */
export async function planRestoreAll(deps: RestoreAllDeps): Promise<Plan> {
  const [db, storage, config] = await Promise.all([
    chooseBackup(deps.db.store, 'db', 'latest'),
    chooseBackup(deps.db.store, 'storage', 'latest'),
    chooseBackup(deps.db.store, 'config', 'latest'),
  ]);
  const now = deps.db.now();
  const expected = await expectedDurationMs(deps.db.store, ['restore-all', 'drill']);
  return sealPlan({
    procedure: 'restore-all',
    gate: 'restore',
    title: `Restore all of ${deps.systemName}: configuration, database and documents`,
    target: `${deps.db.liveLocation} and ${deps.storage.storage.location}`,
    steps: restoreAllSteps(),
    backups: [plannedBackup(db), plannedBackup(storage), plannedBackup(config)],
    notes: ['Changed config files are kept beside themselves as <file>.pre-<label>; the replaced database is kept for `/dr restore undo`.', DNS_REMINDER],
    request: {},
    input: { dbBackupId: db.id, storageBackupId: storage.id, configBackupId: config.id },
    madeAt: now.toISOString(),
    dataLossWindowMs: now.getTime() - Date.parse(backupPointInTime(db)),
    ...(expected !== undefined ? { expectedDurationMs: expected } : {}),
  });
}

function restoreAllSteps(): string[] {
  const [fetchDb, restoreDb, checkDb, stop, swap, start, health] = RESTORE_DB_STEPS;
  const [storageHealth, findDocuments, writeBack, checkDocuments] = RESTORE_STORAGE_STEPS;
  // Migrations run once the service is up again: the usual `docker-compose exec … alembic upgrade` needs it running.
  // Every check that can be made while the DMS still runs comes before "stop" (the storage too); which documents
  // to write back can only be found after the swap, against the restored database's own checksums.
  return ['fetch the config archive and check its SHA-256', fetchDb, restoreDb, checkDb, storageHealth, stop, 'restore the configuration files', swap, findDocuments, writeBack, start, 'run the migrations', health, checkDocuments];
}

/** The steps of a confirmed `restore all` plan: the database and storage restores' own steps, in runbook order. */
export function restoreAllRun(deps: RestoreAllDeps, plan: Plan, origin: { actor: string; gateId?: string; channel?: string; messageTs?: string }): RunSpec<unknown> {
  const input = plan.input;
  const db = restoreDbRun(deps.db, { ...plan, input: { backupId: input.dbBackupId! } }, origin);
  const storage = restoreStorageRun(deps.storage, { ...plan, input: { backupId: input.storageBackupId! } }, origin);
  // Each part keeps its own context: its steps are bound to it, whatever the engine passes.
  const from = <C>(spec: RunSpec<C>, name: string): StepDefinition<unknown> => {
    const step = spec.steps.find((s) => s.name === name);
    if (!step) throw new Error(`no step "${name}"`);
    return { name, run: (_ignored, signal) => step.run(spec.context, signal) };
  };
  const label = runLabel(deps.db.now());
  let archive: { path: string; sha256: string; release(): Promise<void> } | undefined;
  const own: Record<string, StepDefinition<unknown>> = {
    'fetch the config archive and check its SHA-256': {
      name: 'fetch the config archive and check its SHA-256',
      run: async () => {
        const manifest = (await deps.db.store.listCatalog({ kind: 'config', limit: 10_000 })).find((m) => m.id === input.configBackupId);
        const file = manifest?.files[0];
        if (!manifest || !file) throw new DrError('BACKUP_NOT_FOUND', `${input.configBackupId} is no longer in the catalog`);
        archive = { ...(await deps.db.repository.localFile(file.key)), sha256: file.sha256 };
        const actual = await sha256OfFile(archive.path);
        if (actual !== file.sha256) throw new DrError('RESTORE_FAILED', `${manifest.id} is damaged: its SHA-256 is ${actual.slice(0, 12)}…, the manifest says ${file.sha256.slice(0, 12)}…`);
        const entries = await deps.archiver.listArchive(archive.path);
        return `${manifest.id}: SHA-256 matches, ${entries.length} entries readable${manifest.encryption ? ' (decrypted with DR_BACKUP_KEY)' : ''}`;
      },
    },
    'restore the configuration files': {
      name: 'restore the configuration files',
      run: async () => {
        // The archiver checks the SHA-256 again on the bytes it extracts, and confines them to backups.config_paths.
        const result = await deps.archiver.restoreArchive(archive!.path, deps.configRoot, label, archive!.sha256);
        await archive!.release();
        archive = undefined;
        return `${result.restored.length} written back, ${result.unchanged.length} already equal${result.kept.length ? `; previous versions kept as ${result.kept.map((k) => k.split('/').at(-1)).join(', ')}` : ''}`;
      },
    },
    'run the migrations': { name: 'run the migrations', run: (_ignored, signal) => runServiceCommand(deps.db.service, 'migrate', signal) },
  };
  const dbNames = new Set<string>(RESTORE_DB_STEPS);
  const storageNames = new Set<string>(RESTORE_STORAGE_STEPS);
  const [storageHealth] = RESTORE_STORAGE_STEPS;
  const storageCheck = from(storage, storageHealth);
  own[storageHealth] = {
    name: storageHealth,
    // The snapshot's manifest is read now too: a snapshot gone from the repository must not be found missing after the stop.
    run: async (_ignored, signal) => {
      const detail = await storageCheck.run(undefined, signal);
      await deps.storage.repository.readManifest(input.storageBackupId!).catch((error: unknown) => {
        throw new DrError('RESTORE_FAILED', `the manifest of ${input.storageBackupId} cannot be read from the repository: ${errorText(error)}`, { cause: error });
      });
      return `${typeof detail === 'string' ? detail : ''}; the manifest of ${input.storageBackupId} reads back`;
    },
  };
  const steps = restoreAllSteps().map((name) => own[name] ?? (dbNames.has(name) ? from(db, name) : storageNames.has(name) ? from(storage, name) : undefined)!);
  return {
    procedure: 'restore-all',
    actor: origin.actor,
    ...runOriginFields(origin),
    ...(db.leftovers ? { leftovers: db.leftovers } : {}),
    context: {},
    steps,
    onFailure: async (_ignored, failedStep) => {
      await archive?.release().catch(() => {});
      return [...((await db.onFailure?.(db.context, failedStep)) ?? []), ...((await storage.onFailure?.(storage.context, failedStep)) ?? [])];
    },
    summarize: (_ignored, run) => ({
      ...storage.summarize?.(storage.context, run),
      ...db.summarize?.(db.context, run),
      backups: [input.dbBackupId, input.storageBackupId, input.configBackupId],
      manual: [DNS_REMINDER],
    }),
  };
}
