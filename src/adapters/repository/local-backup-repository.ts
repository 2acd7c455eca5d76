import { access, constants, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { MANIFEST_DIR, summarizeManifest } from '../../backup/manifest.ts';
import type { BackupRepository, BackupSummary } from '../../ports/backup-repository.ts';

/** A backup repository in a local (or mounted) folder. */
export class LocalBackupRepository implements BackupRepository {
  constructor(private readonly root: string) {}

  get location(): string {
    return this.root;
  }

  async listBackups(signal: AbortSignal): Promise<BackupSummary[]> {
    try {
      await access(this.root, constants.W_OK);
    } catch (error) {
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      throw new Error(`repository ${this.root} ${missing ? 'does not exist (is its volume mounted?)' : 'is not writable'}`);
    }
    const dir = path.join(this.root, MANIFEST_DIR);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const summaries: BackupSummary[] = [];
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      if (signal.aborted) throw signal.reason;
      const summary = summarizeManifest(await readFile(path.join(dir, name), 'utf8'));
      if (summary) summaries.push(summary);
    }
    return summaries;
  }
}
