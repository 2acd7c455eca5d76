/** Kinds of backup the repository holds (runbook §2). */
export type BackupKind = 'db' | 'storage' | 'config';

/** The part of a backup manifest that status and listings need. */
export interface BackupSummary {
  id: string;
  kind: BackupKind;
  finishedAt: string;
  sizeBytes: number;
  verified: boolean;
}

/** Where backups live: a local folder or an S3 bucket/prefix; each backup is known by its manifest. */
export interface BackupRepository {
  readonly location: string;
  /** Proves the repository answers, and lists the backups its manifests describe. */
  listBackups(signal: AbortSignal): Promise<BackupSummary[]>;
}
