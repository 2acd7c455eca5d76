import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { BackupManifest } from '../backup/manifest.ts';
import type { ProgressUpdate } from '../commands/types.ts';
import { DrError, errorText } from '../domain/errors.ts';
import { formatBytes } from '../domain/format.ts';
import type { Run } from '../domain/run.ts';
import { BACKUP_KINDS, type BackupKind, type LocalBackupFile, type ReadableBackupRepository } from '../ports/backup-repository.ts';
import type { ConfigArchiver } from '../ports/config-archive.ts';
import type { DocumentWriter } from '../ports/dms.ts';
import type { StateStore } from '../ports/state-store.ts';
import type { RunSpec, StepDefinition } from './engine.ts';
import { runLabel } from './plan-helpers.ts';
import { writeBackDocuments, type DocumentToRestore } from './restore-storage.ts';
import { sha256OfFile } from '../backup/file-hash.ts';
import { cleanUpScratchRestore, scratchRestoreSteps, type ScratchRestore, type ScratchRestoreDeps } from './verify-backup.ts';

/** What the monthly drill needs: the backups, scratch targets for each part, and the RTO it is measured against. */
export interface DrillDeps extends ScratchRestoreDeps {
  store: StateStore;
  repository: Pick<ReadableBackupRepository, 'localFile' | 'readManifest' | 'openObject'>;
  archiver: ConfigArchiver;
  /** A writer of documents into a scratch folder (every byte checked against the expected SHA-256). */
  scratchWriter: (root: string) => DocumentWriter;
  /** Where scratch folders are made for the documents and config files; each is removed when the drill ends. */
  scratchRoot: string;
  concurrency: number;
  /** `objectives.rto`: the drill's duration is the RTO it measures. */
  rtoTargetMs: number;
  now: () => Date;
  progress?: (update: ProgressUpdate) => void;
}

/** The steps of `drill`, in the order of a complete recovery (runbook §3.3): configuration, database, documents. */
export const DRILL_STEPS = [
  'find the newest verified backups',
  'config: fetch the archive and check its SHA-256',
  'config: restore its files into a scratch folder',
  'config: remove the scratch folder',
  'database: fetch the backup and check its SHA-256',
  'database: restore it into a scratch database',
  'database: check integrity and counts against the manifest',
  'database: drop the scratch database',
  'documents: read every document of the snapshot back into a scratch folder',
  'documents: remove the scratch folder',
] as const;

/** What a drill carries from step to step. */
interface DrillContext {
  chosen?: Record<BackupKind, BackupManifest>;
  db?: ScratchRestore;
  archive?: LocalBackupFile;
  configDir?: string;
  configFiles?: number;
  documentsDir?: string;
  documents?: { count: number; bytes: number };
}

/**
 * The monthly drill (runbook §4.2): a full recovery of the newest verified database, storage and config
 * backups into scratch targets, nothing live touched. Its whole duration is the RTO it measures.
 */
export function drillRun(deps: DrillDeps, origin: { actor: string }): RunSpec<DrillContext> {
  const label = runLabel(deps.now());
  const scratch = scratchRestoreSteps(deps, label);
  const onDb = (step: StepDefinition<ScratchRestore>, name: string): StepDefinition<DrillContext> => ({ name, run: (ctx, signal) => step.run(ctx.db!, signal) });
  const releaseArchive = async (ctx: DrillContext) => {
    await ctx.archive?.release().catch(() => {});
    delete ctx.archive;
  };
  const steps: StepDefinition<DrillContext>[] = [
    {
      name: DRILL_STEPS[0],
      run: async (ctx) => {
        const chosen: Partial<Record<BackupKind, BackupManifest>> = {};
        for (const kind of BACKUP_KINDS) {
          const newest = (await deps.store.listCatalog({ kind, limit: 500 })).find((m) => m.verified);
          if (newest) chosen[kind] = newest;
        }
        const missing = BACKUP_KINDS.filter((kind) => !chosen[kind]);
        if (missing.length) throw new DrError('BACKUP_NOT_FOUND', `a complete recovery is not possible now: there is no verified ${missing.join(', ')} backup`);
        const all = chosen as Record<BackupKind, BackupManifest>;
        if (all.db.source.engine !== deps.restorer.engine) {
          throw new DrError('BACKUP_NOT_FOUND', `the newest verified database backup ${all.db.id} is a ${all.db.source.engine ?? 'unknown'} backup and the live database is ${deps.restorer.engine}`);
        }
        ctx.chosen = all;
        ctx.db = { backup: all.db };
        return `config ${all.config.id}, database ${all.db.id}, documents ${all.storage.id}`;
      },
    },
    {
      name: DRILL_STEPS[1],
      run: async (ctx) => {
        const manifest = ctx.chosen!.config;
        const file = manifest.files[0];
        if (!file) throw new DrError('RESTORE_FAILED', `${manifest.id} has no file in its manifest`);
        ctx.archive = await deps.repository.localFile(file.key);
        const actual = await sha256OfFile(ctx.archive.path);
        if (actual !== file.sha256) throw new DrError('RESTORE_FAILED', `${manifest.id} is damaged: its SHA-256 is ${actual.slice(0, 12)}…, the manifest says ${file.sha256.slice(0, 12)}…`);
        return `${manifest.id}, ${formatBytes(file.size_bytes)}, SHA-256 matches the manifest${manifest.encryption ? ' (encrypted)' : ''}`;
      },
    },
    {
      name: DRILL_STEPS[2],
      run: async (ctx) => {
        ctx.configDir = await mkdtemp(path.join(deps.scratchRoot, 'dr-drill-config-'));
        try {
          const result = await deps.archiver.restoreArchive(ctx.archive!.path, ctx.configDir, label, ctx.chosen!.config.files[0]!.sha256);
          ctx.configFiles = result.restored.length;
        } finally {
          await releaseArchive(ctx);
        }
        if (ctx.configFiles === 0) throw new DrError('RESTORE_FAILED', `${ctx.chosen!.config.id} restored no file`);
        return `${ctx.configFiles} files restored${ctx.chosen!.config.encryption ? ' (decrypted with DR_BACKUP_KEY)' : ''}`;
      },
    },
    {
      name: DRILL_STEPS[3],
      run: async (ctx) => {
        await rm(ctx.configDir!, { recursive: true, force: true });
        delete ctx.configDir;
        return 'removed';
      },
    },
    onDb(scratch.fetch, DRILL_STEPS[4]),
    onDb(scratch.restore, DRILL_STEPS[5]),
    onDb(scratch.check, DRILL_STEPS[6]),
    onDb(scratch.drop, DRILL_STEPS[7]),
    {
      name: DRILL_STEPS[8],
      run: async (ctx) => {
        const id = ctx.chosen!.storage.id;
        // The catalog keeps manifests without their document lists; the repository has the whole one.
        const snapshot = (await deps.repository.readManifest(id)) as BackupManifest;
        if (snapshot.kind !== 'storage' || !Array.isArray(snapshot.documents)) throw new DrError('RESTORE_FAILED', `${id}'s manifest in the repository lists no documents`);
        ctx.documentsDir = await mkdtemp(path.join(deps.scratchRoot, 'dr-drill-documents-'));
        // Every document as if all were lost: the writer checks each byte against the snapshot's SHA-256.
        const toRestore = snapshot.documents.map((d, i): DocumentToRestore => ({ id: i + 1, path: d.path, sha256: d.sha256, sizeBytes: d.size_bytes, problem: 'missing', snapshotId: id }));
        const report = await writeBackDocuments(
          { repository: deps.repository, writer: deps.scratchWriter(ctx.documentsDir), concurrency: deps.concurrency, ...(deps.progress ? { progress: deps.progress } : {}) },
          toRestore,
        );
        ctx.documents = { count: report.written, bytes: report.bytes };
        if (report.failed.length > 0) {
          const named = report.failed.slice(0, 10).map((f) => `${f.path} (${f.detail.slice(0, 200)})`).join('; ');
          const more = report.failed.length > 10 ? ` and ${report.failed.length - 10} more` : '';
          throw new DrError('RESTORE_FAILED', `${report.failed.length} of ${toRestore.length} documents of ${id} could not be read back intact: ${named}${more}`);
        }
        return `${report.written} documents (${formatBytes(report.bytes)}) read back from ${id}, each matching its SHA-256`;
      },
    },
    {
      name: DRILL_STEPS[9],
      run: async (ctx) => {
        await rm(ctx.documentsDir!, { recursive: true, force: true });
        delete ctx.documentsDir;
        return 'removed';
      },
    },
  ];
  return {
    procedure: 'drill',
    actor: origin.actor,
    leftovers: { scratchLabel: label },
    context: {},
    steps,
    onFailure: async (ctx) => {
      await releaseArchive(ctx);
      const notes = await cleanUpScratchRestore(deps, ctx.db);
      for (const dir of [ctx.configDir, ctx.documentsDir]) {
        if (!dir) continue;
        await rm(dir, { recursive: true, force: true }).then(
          () => notes.push(`removed the scratch folder ${dir}`),
          (error: unknown) => notes.push(`could NOT remove the scratch folder ${dir}: ${errorText(error)}`),
        );
      }
      delete ctx.configDir;
      delete ctx.documentsDir;
      notes.push('nothing live was touched');
      return notes;
    },
    summarize: (ctx, run) => summarizeDrill(ctx, run, deps.rtoTargetMs),
  };
}

function summarizeDrill(ctx: DrillContext, run: Run, rtoTargetMs: number): Record<string, unknown> {
  // The drill recovers everything a complete loss would need: its whole duration is the recovery time.
  const rtoMs = Date.parse(run.finishedAt ?? run.heartbeatAt) - Date.parse(run.startedAt);
  return {
    ...(ctx.chosen ? { backups: [ctx.chosen.config.id, ctx.chosen.db.id, ctx.chosen.storage.id] } : {}),
    ...(ctx.db?.counts ? { counts: ctx.db.counts } : {}),
    ...(ctx.configFiles !== undefined ? { configFiles: ctx.configFiles } : {}),
    ...(ctx.documents ? { documentsReadBack: ctx.documents.count, documentBytes: ctx.documents.bytes } : {}),
    rtoMs,
    rtoTargetMs,
    withinRto: run.status === 'succeeded' && rtoMs <= rtoTargetMs,
  };
}
