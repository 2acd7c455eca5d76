/** What a config archive holds. */
export interface ConfigArchive {
  /** Paths archived (files and folders as configured). */
  entries: string[];
  /** Configured paths that do not exist: reported, not fatal (a deployment may lack nginx/). */
  missing: string[];
  sha256: string;
}

/** Packs `backups.config_paths` (they hold secrets) and reads such an archive back. */
export interface ConfigArchiver {
  /** File extension of an archive (`tar.gz`; encryption at rest is the repository's). */
  readonly extension: string;
  archiveTo(file: string): Promise<ConfigArchive>;
  /** Lists the archive (decrypting one in the pre-age format): proof that it can be restored. */
  listArchive(file: string): Promise<string[]>;
  /**
   * Puts every file of the archive back at its path (under `root`, `/` for the live system), each one
   * atomically; a file that differs is first kept beside itself as `<file>.pre-<label>`. Refuses, before
   * writing anything, an archive whose SHA-256 is not `sha256` (from its manifest) or that holds an entry
   * outside `backups.config_paths` (absolute, `..`, a link leading out), naming the entries; never writes
   * through a symbolic link that leads out of the configured paths.
   */
  restoreArchive(file: string, root: string, label: string, sha256: string): Promise<ConfigRestore>;
}

/** What a config restore did. */
export interface ConfigRestore {
  /** Files written back. */
  restored: string[];
  /** Files already equal to the archived ones, left alone. */
  unchanged: string[];
  /** Copies of the files that were replaced (`<file>.pre-<label>`, mode 0600). */
  kept: string[];
}
