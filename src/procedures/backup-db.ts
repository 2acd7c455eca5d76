import type { BackupManifest } from '../backup/manifest.ts';
import type { DatabaseCopy, DatabaseDumper, DumpProgress } from '../ports/dms.ts';
import { storeSingleFileBackup, type SingleFileBackupDeps, type StreamProducer } from './single-file-backup.ts';

/** What a database backup needs. */
export interface BackupDbDeps extends SingleFileBackupDeps {
  dumper: DatabaseDumper;
  /** Where the copy comes from, for the manifest (never with a password). */
  sourceLocation: string;
}

/** Copies the live database (SQLite online backup or pg_dump), proven by integrity_check / pg_restore --list before it counts. */
export function backupDatabase(deps: BackupDbDeps): Promise<BackupManifest> {
  const { dumper } = deps;
  // pg_dump cannot say how big its output will be: the previous dump's size stands in, until this one outgrows it.
  const withEstimate = async (progress: (update: DumpProgress) => void): Promise<(update: DumpProgress) => void> => {
    const [previous] = deps.progress ? await deps.store.listCatalog({ kind: 'db', limit: 1 }).catch(() => []) : [];
    const estimate = previous?.size_bytes;
    return (update) => progress(update.bytesTotal === undefined && update.phase === undefined && estimate !== undefined && update.bytesDone < estimate ? { ...update, bytesTotal: estimate } : update);
  };
  const described = (copy: Pick<DatabaseCopy, 'tools' | 'engine' | 'counts' | 'countsUnavailable'>) => ({
    tools: copy.tools,
    source: { engine: copy.engine, location: deps.sourceLocation },
    extra: { verification: copy.counts ? { counts: copy.counts } : { counts_unavailable: copy.countsUnavailable ?? 'the dumper reported no counts' } },
  });
  const streamed: StreamProducer | undefined =
    dumper.dumpToStream && dumper.checkStream
      ? {
          stream: async (out, signal, progress) => {
            const copy = await dumper.dumpToStream!(out, signal, await withEstimate(progress));
            return { sha256: copy.sha256, ...described(copy) };
          },
          check: (input, signal) => dumper.checkStream!(input, signal),
        }
      : undefined;
  return storeSingleFileBackup(
    deps,
    'db',
    dumper.extension,
    async (staged, signal, progress, readCopy) => {
      const copy = await dumper.dumpTo(staged, signal, await withEstimate(progress), readCopy);
      return { integrity: copy.integrity, ...(copy.sha256 ? { sha256: copy.sha256, sha256FromDisk: copy.sha256FromDisk === true } : {}), ...described(copy) };
    },
    streamed,
  );
}
