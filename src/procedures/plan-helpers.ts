import type { BackupManifest } from '../backup/manifest.ts';
import { DrError } from '../domain/errors.ts';
import type { PlannedBackup } from '../domain/plan.ts';
import type { BackupKind } from '../ports/backup-repository.ts';
import type { StateStore } from '../ports/state-store.ts';

/**
 * The moment a backup's data is from: `pg_dump` sees the database as of its start; SQLite's online backup
 * restarts on every write, so its copy is as of its end.
 */
export function backupPointInTime(manifest: BackupManifest): string {
  return manifest.source.engine === 'postgres' ? manifest.started_at : manifest.finished_at;
}

/** A catalogued backup as a plan shows it. */
export function plannedBackup(manifest: BackupManifest): PlannedBackup {
  return {
    id: manifest.id,
    kind: manifest.kind,
    finishedAt: manifest.finished_at,
    sizeBytes: manifest.size_bytes,
    verifiedAt: manifest.finished_at,
    pointInTime: backupPointInTime(manifest),
  };
}

// What a user may type as a backup id: the shape newBackupId makes, nothing else reaches a lookup.
const BACKUP_ID = /^(db|storage|config)-\d{8}T\d{6}Z-[0-9a-f]{2,32}$/;

/** Whether a word could be a backup id at all (checked while parsing, before anything is looked up). */
export function looksLikeBackupId(word: string): boolean {
  return BACKUP_ID.test(word);
}

/**
 * The backup a restore uses: `latest` is the newest *verified* one of the kind; an id must exist, be of
 * that kind and be verified. Anything else is refused with what is available instead.
 */
export async function chooseBackup(store: StateStore, kind: BackupKind, choice: string): Promise<BackupManifest> {
  const catalog = await store.listCatalog({ kind, limit: 500 });
  const verified = catalog.filter((m) => m.verified);
  const newest = verified.slice(0, 3).map((m) => m.id).join(', ');
  const available = newest ? ` The newest verified ${kind} backups: ${newest}.` : ` There is no verified ${kind} backup yet; take one with \`/dr backup ${kind}\`.`;
  if (choice === 'latest') {
    const latest = verified[0];
    if (!latest) throw new DrError('BACKUP_NOT_FOUND', `There is no verified ${kind} backup to restore from. Nothing was run.${available}`);
    return latest;
  }
  const chosen = (await store.listCatalog({ limit: 10_000 })).find((m) => m.id === choice);
  if (!chosen) throw new DrError('BACKUP_NOT_FOUND', `There is no backup ${choice}. Nothing was run.${available}`, { hint: `backups ${kind}` });
  if (chosen.kind !== kind) throw new DrError('BACKUP_NOT_FOUND', `${choice} is a ${chosen.kind} backup, not a ${kind} backup. Nothing was run.${available}`);
  if (!chosen.verified) {
    const damaged = chosen.verification.damaged?.length ? ` (damaged: ${chosen.verification.damaged.slice(0, 3).join(', ')})` : '';
    throw new DrError('BACKUP_NOT_FOUND', `${choice} is not verified${damaged}, so it will not be restored. Nothing was run.${available}`);
  }
  return chosen;
}

/** What past runs of these procedures took (median of the last five that succeeded), or undefined without history. */
export async function expectedDurationMs(store: StateStore, procedures: readonly string[]): Promise<number | undefined> {
  const durations: number[] = [];
  for (const procedure of procedures) {
    for (const run of await store.listRuns({ status: 'succeeded', procedure, limit: 5 })) {
      const ms = run.summary.durationMs;
      if (typeof ms === 'number') durations.push(ms);
    }
  }
  if (durations.length === 0) return undefined;
  durations.sort((a, b) => a - b);
  return durations[Math.floor(durations.length / 2)];
}

/** A label for names made by one run (`20261126T043000123Z`): sortable, and safe in file and database names. */
export function runLabel(at: Date): string {
  return at.toISOString().replace(/[-:.]/g, '');
}
