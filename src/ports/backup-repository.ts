import type { EncryptionInfo } from '../backup/encryption.ts';

/** Kinds of backup the repository holds (runbook §2). */
export type BackupKind = 'db' | 'storage' | 'config';

/** Every backup kind, in the order backups are taken and listed (the database first: the RPO is its). */
export const BACKUP_KINDS: readonly BackupKind[] = ['db', 'storage', 'config'];

/** The part of a backup manifest that status and listings need. */
export interface BackupSummary {
  id: string;
  kind: BackupKind;
  finishedAt: string;
  sizeBytes: number;
  verified: boolean;
}

/** A file as stored in the repository: its key, size and SHA-256. */
export interface StoredFile {
  key: string;
  sizeBytes: number;
  sha256: string;
}

/** Content to store as an object: a stream on demand, or a local file a local repository may copy itself. */
export interface ObjectContent {
  open(): Promise<NodeJS.ReadableStream>;
  localPath?: string;
}

/** Where backups live: a local folder or an S3 bucket/prefix; each backup is known by its manifest. */
export interface BackupRepository {
  readonly location: string;
  /** Proves the repository answers, and lists the backups its manifests describe. */
  listBackups(signal: AbortSignal): Promise<BackupSummary[]>;
  /** Proves the repository answers (the folder is there and writable, the bucket reachable) without listing it. */
  probe?(signal: AbortSignal): Promise<void>;
}

/** A stored backup file as a local path; release() when done with it. */
export interface LocalBackupFile {
  path: string;
  release(): Promise<void>;
}

/** A repository backups can be read back out of, for restores. */
export interface ReadableBackupRepository extends BackupRepository {
  /** The manifest of a backup, as written. */
  readManifest(id: string): Promise<unknown>;
  /** The bytes of a content-addressed document object; rejects with code ENOENT when it is not stored. */
  openObject(sha256: string): Promise<NodeJS.ReadableStream>;
  /**
   * A stored backup file (a manifest's `files[].key`) as a local path, for tools that need a seekable file
   * (pg_restore -j). Not verified here: the caller checks its SHA-256 against the manifest.
   */
  localFile(key: string): Promise<LocalBackupFile>;
}

/**
 * What storing one object did. An object this call stored was checked at once, and `readBackSha256` is the
 * SHA-256 that check found: read back, or confirmed by the store itself (`verifiedBy`), which checked the bytes
 * against the checksum sent with them. An object found wrong is removed again.
 */
export type PutObjectResult = { sha256: string; sizeBytes: number } & (
  | { stored: true; readBackSha256: string; verifiedBy?: 'read-back' | 'store-checksum' | 'etag' }
  | { stored: false }
);

/**
 * What a snapshot already knows of an object: `referenced` by the newest snapshot kept (or stored by this one),
 * so it is there and no sweep takes it; `present` in the repository's listing but referenced by none.
 */
export type KnownObject = 'referenced' | 'present';

/** A repository backups can be written into. */
export interface WritableBackupRepository extends ReadableBackupRepository {
  /** How new backups are encrypted at rest (DR_BACKUP_KEY set): recorded in their manifests; absent when stored in clear. */
  readonly encryption?: EncryptionInfo;
  /** True when commit() only renames the staged file on the same disk (bytes read from it are the stored bytes). */
  readonly commitMovesFile: boolean;
  /**
   * Reads a finished staged file once and returns its SHA-256; a repository that encrypts does so in the same
   * pass, so that commit() of that file has only the encrypted result left to store. Optional.
   */
  prepareStaged?(stagedPath: string): Promise<string>;
  /** A fresh local path to write a backup file into before it is committed. */
  stage(name: string): Promise<string>;
  /** Moves the staged file under `key` atomically, hashing it unless its SHA-256 is already known; the staged path is gone afterwards. */
  commit(stagedPath: string, key: string, knownSha256?: string): Promise<StoredFile>;
  /** Reads a stored file back and returns its SHA-256 (verification). */
  hash(key: string): Promise<string>;
  /**
   * Stores what `write` streams into `out` under `key` while it is produced, with no local copy (S3: a
   * multipart upload). Absent where staging a file and renaming it is already one pass (a local folder).
   * On failure nothing is left under `key`.
   */
  upload?<T>(key: string, write: (out: NodeJS.WritableStream) => Promise<T>, signal: AbortSignal): Promise<{ result: T; sizeBytes: number }>;
  /** A stored file read back as a stream (with `upload`: the read-back of what was uploaded). */
  readStream?(key: string, signal: AbortSignal): Promise<NodeJS.ReadableStream>;
  /**
   * Writes the manifest last, under a temporary name first: a backup exists only once this succeeds. With
   * `namedFirst`, the manifest is staged while that settles and put in place only once it has resolved (what
   * the manifest names is durable); if it rejects, no manifest appears and its reason is thrown.
   */
  writeManifest(id: string, manifest: object, namedFirst?: Promise<void>): Promise<void>;
  /** Removes one staged path or stored key, ignoring what is already gone. */
  discard(pathOrKey: string): Promise<void>;
  /** Removes staging leftovers of interrupted backups; returns how many. */
  cleanStaging(): Promise<number>;
  /**
   * Stores content as a content-addressed object, hashing while it copies, and checks what it stored; an object
   * already there is not stored twice. `known` says what the snapshot knows of an object by its SHA-256, so a
   * remote store need not be asked (a local one may ignore it: asking it costs a stat).
   */
  putObject(content: ObjectContent, known?: (sha256: string) => KnownObject | undefined): Promise<PutObjectResult>;
  /**
   * Every object stored, where asking per object would cost a round trip each (S3): read once when a snapshot
   * has no previous one to go by, so objects already there are reused, not sent again. Absent for a local folder.
   */
  presentObjects?(signal: AbortSignal): Promise<Set<string>>;
  /** Whether a backup's manifest is still in the repository (it may have been removed or wiped since it was catalogued). */
  hasManifest(id: string): Promise<boolean>;
  /** SHA-256 of an object as read back now (verification). */
  hashObject(sha256: string): Promise<string>;
  /**
   * Makes objects durable before a manifest names them: those a snapshot stored, and those it found already
   * there (a failed run may have stored them without flushing). A no-op where a store is durable once answered.
   */
  flushObjects(objects: readonly string[]): Promise<void>;
  /** Forgets a backup: its manifest first (so it stops existing at once), then its files. */
  removeBackup(id: string, keys: readonly string[]): Promise<void>;
  /** Every stored object, for the sweep. */
  listObjects(): AsyncIterable<{ sha256: string; mtimeMs: number; sizeBytes: number }>;
  removeObject(sha256: string): Promise<void>;
}
