import type { BackupManifest } from '../backup/manifest.ts';
import type { ConfigArchiver } from '../ports/config-archive.ts';
import { storeSingleFileBackup, type SingleFileBackupDeps } from './single-file-backup.ts';

/** What a config backup needs. */
export interface BackupConfigDeps extends SingleFileBackupDeps {
  archiver: ConfigArchiver;
}

/** Archives `backups.config_paths` (encrypted by the repository when DR_BACKUP_KEY is set), proven by reading the archive back before it counts. */
export function backupConfig(deps: BackupConfigDeps): Promise<BackupManifest> {
  return storeSingleFileBackup(deps, 'config', deps.archiver.extension, async (staged) => {
    const archive = await deps.archiver.archiveTo(staged);
    const listed = await deps.archiver.listArchive(staged);
    const unlisted = archive.entries.filter((entry) => !listed.some((l) => `/${l}`.replace(/\/$/, '') === entry.replace(/\/$/, '')));
    return {
      integrity: unlisted.length ? `archive lacks ${unlisted.join(', ')}` : 'ok',
      sha256: archive.sha256,
      tools: {},
      source: { location: archive.entries.join(', ') },
      extra: {
        verification: { archive_entries: listed.length, missing: archive.missing },
      },
    };
  });
}
