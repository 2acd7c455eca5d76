import { randomBytes } from 'node:crypto';
import { newBackupId, type BackupManifest } from '../backup/manifest.ts';
import { DrError, errorText } from '../domain/errors.ts';
import type { WritableBackupRepository } from '../ports/backup-repository.ts';
import type { DatabaseDumper } from '../ports/dms.ts';
import type { StateStore } from '../ports/state-store.ts';
import { withDeadline } from './deadline.ts';

/** What a database backup needs. */
export interface BackupDbDeps {
  dumper: DatabaseDumper;
  /** Where the copy comes from, for the manifest (never with a password). */
  sourceLocation: string;
  repository: WritableBackupRepository;
  store: StateStore;
  timeoutMs: number;
  now: () => Date;
  /** Identifies the bot build in manifests. */
  botVersion: string;
}

/**
 * Copies the live database into the repository and proves the copy before it counts: the copy's own
 * check (integrity_check / pg_restore --list) must pass, and the stored file is read back and must hash
 * as it did when written. The manifest is written last and only then is the backup catalogued; on any
 * failure the staged and stored files are removed and nothing is catalogued.
 */
export async function backupDatabase(deps: BackupDbDeps): Promise<BackupManifest> {
  const started = deps.now();
  const id = newBackupId('db', started, randomBytes(2).toString('hex'));
  const key = `db/${id}.${deps.dumper.extension}`;
  const staged = await deps.repository.stage(`${id}.${deps.dumper.extension}`);
  let committed = false;
  let written = false;
  try {
    const copy = await withDeadline(deps.timeoutMs, (signal) => deps.dumper.dumpTo(staged, signal));
    if (copy.integrity !== 'ok') throw new DrError('BACKUP_FAILED', `the copy of the database failed its check: ${copy.integrity}`);
    const file = await deps.repository.commit(staged, key, copy.sha256);
    committed = true;
    const reread = await deps.repository.hash(key);
    if (reread !== file.sha256) throw new DrError('BACKUP_FAILED', `${key} reads back with SHA-256 ${reread.slice(0, 8)}, written as ${file.sha256.slice(0, 8)}`);
    const manifest: BackupManifest = {
      format: 1,
      id,
      kind: 'db',
      started_at: started.toISOString(),
      finished_at: deps.now().toISOString(),
      source: { engine: copy.engine, location: deps.sourceLocation },
      files: [{ key: file.key, size_bytes: file.sizeBytes, sha256: file.sha256 }],
      size_bytes: file.sizeBytes,
      tools: { ...copy.tools, node: process.versions.node, 'dr-bot': deps.botVersion },
      verified: true,
      verification: { integrity: copy.integrity, ...(copy.counts ? { counts: copy.counts } : {}), hashes_rechecked: true },
    };
    await deps.repository.writeManifest(id, manifest);
    written = true;
    await deps.store.recordBackup(manifest);
    return manifest;
  } catch (error) {
    if (written) {
      // The backup exists and is sound; only the catalog missed it, and the catalog is rebuilt from manifests.
      throw new DrError('BACKUP_FAILED', `backup ${id} is stored and verified, but could not be catalogued: ${errorText(error)}`, { cause: error });
    }
    await deps.repository.discard(staged).catch(() => {});
    if (committed) await deps.repository.discard(key).catch(() => {});
    throw error instanceof DrError ? error : new DrError('BACKUP_FAILED', `database backup failed: ${errorText(error)}`, { cause: error });
  }
}
