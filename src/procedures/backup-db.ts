import type { BackupManifest } from '../backup/manifest.ts';
import type { DatabaseDumper } from '../ports/dms.ts';
import { storeSingleFileBackup, type SingleFileBackupDeps } from './single-file-backup.ts';

/** What a database backup needs. */
export interface BackupDbDeps extends SingleFileBackupDeps {
  dumper: DatabaseDumper;
  /** Where the copy comes from, for the manifest (never with a password). */
  sourceLocation: string;
}

/** Copies the live database (SQLite online backup or pg_dump), proven by integrity_check / pg_restore --list before it counts. */
export function backupDatabase(deps: BackupDbDeps): Promise<BackupManifest> {
  return storeSingleFileBackup(deps, 'db', deps.dumper.extension, async (staged, signal, progress) => {
    // pg_dump cannot say how big its output will be: the previous dump's size stands in, until this one outgrows it.
    const [previous] = deps.progress ? await deps.store.listCatalog({ kind: 'db', limit: 1 }).catch(() => []) : [];
    const estimate = previous?.size_bytes;
    const copy = await deps.dumper.dumpTo(staged, signal, (update) =>
      progress(update.bytesTotal === undefined && update.phase === undefined && estimate !== undefined && update.bytesDone < estimate ? { ...update, bytesTotal: estimate } : update),
    );
    return {
      integrity: copy.integrity,
      ...(copy.sha256 ? { sha256: copy.sha256, sha256FromDisk: copy.sha256FromDisk === true } : {}),
      tools: copy.tools,
      source: { engine: copy.engine, location: deps.sourceLocation },
      extra: { verification: copy.counts ? { counts: copy.counts } : { counts_unavailable: copy.countsUnavailable ?? 'the dumper reported no counts' } },
    };
  });
}
