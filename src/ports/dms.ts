/** What a database probe found: it answered, its integrity check, and how much data it holds. */
export interface DatabaseFacts {
  engine: 'sqlite' | 'postgres';
  /** Server version (PostgreSQL) or library version (SQLite). */
  version: string;
  /** `ok`, or what the integrity check reported. */
  integrity: string;
  counts: { documents: number; users: number; tenants: number };
}

/** The DMS's own database, opened read-only by the bot. */
export interface DmsDatabase {
  /** Where it is, with any password removed. */
  readonly location: string;
  probe(signal: AbortSignal): Promise<DatabaseFacts>;
  /** Connect and `SELECT 1`, nothing more: cheap enough to run every minute (the integrity check of `probe` reads the whole database). */
  ping(signal: AbortSignal): Promise<void>;
}

/** What a storage probe found. */
export type StorageFacts =
  | { kind: 'local'; path: string; usedPct: number; freeBytes: number; fileCount: number; fileCountComplete: boolean }
  | { kind: 's3'; bucket: string; region: string };

/** Where the DMS keeps its documents: a local uploads folder or an S3 bucket. */
export interface DocumentStore {
  readonly location: string;
  probe(signal: AbortSignal): Promise<StorageFacts>;
}

/** The DMS health endpoint's answer, parsed. */
export interface HealthFacts {
  httpStatus: number;
  status: string;
  components: Record<string, { status: string; detail?: string }>;
}

/** The DMS's HTTP monitoring endpoints. */
export interface DmsEndpoints {
  health(signal: AbortSignal): Promise<HealthFacts>;
  /** Number of samples in the Prometheus exposition. */
  metrics(signal: AbortSignal): Promise<{ httpStatus: number; samples: number }>;
  /** The Prometheus exposition as text; rejects unless the endpoint answered 2xx. */
  scrape(signal: AbortSignal): Promise<string>;
}

/** What a database copy holds, checked before it may count as a backup. */
export interface DatabaseCopy {
  engine: 'sqlite' | 'postgres';
  /** Versions of what made the copy, for the manifest (e.g. `{ sqlite: '3.45.0' }`, `{ pg_dump: '15.4' }`). */
  tools: Record<string, string>;
  /** `ok`, or what the check of the copy reported (SQLite integrity_check, pg_restore --list). */
  integrity: string;
  counts: { documents: number; users: number; tenants: number } | undefined;
  /** Why `counts` is undefined (the DMS lacks one of the tables, or counting failed), kept in the manifest. */
  countsUnavailable?: string;
  /** SHA-256 of the copy when it was computed while the copy streamed, or by reading the finished file. */
  sha256?: string;
  /** True when `sha256` was read back from the file on disk, not computed from the bytes on their way there. */
  sha256FromDisk?: boolean;
}

/** How far a database copy has got: bytes written and, when known, how many there will be; or a phase that moves no bytes. */
export interface DumpProgress {
  bytesDone: number;
  bytesTotal?: number;
  /** What it is doing once the bytes are written, e.g. `integrity_check of the copy`. */
  phase?: string;
}

/** A copy streamed out as it was produced: hashed on the way, checked later on its read-back. */
export type StreamedCopy = Omit<DatabaseCopy, 'integrity' | 'sha256' | 'sha256FromDisk'> & { sha256: string };

/** Makes consistent copies of the live DMS database while it keeps serving. */
export interface DatabaseDumper {
  /** File extension of a copy, e.g. `sqlite` or `dump`. */
  readonly extension: string;
  /**
   * Writes a checked copy into `file`. The finished copy is read once beside its check by `readCopy` (default:
   * hashing it), which returns its SHA-256: an encrypting repository encrypts it in that same pass.
   */
  dumpTo(file: string, signal: AbortSignal, progress?: (update: DumpProgress) => void, readCopy?: (file: string) => Promise<string>): Promise<DatabaseCopy>;
  /** Streams the copy into `out` as it is produced, for repositories that upload as it comes (pg_dump; not the SQLite backup API, which needs a file). */
  dumpToStream?(out: NodeJS.WritableStream, signal: AbortSignal, progress?: (update: DumpProgress) => void): Promise<StreamedCopy>;
  /** Checks a streamed copy as it is read back: `ok`, or what is wrong (pg_restore --list on its standard input). */
  checkStream?(input: NodeJS.ReadableStream, signal: AbortSignal): Promise<string>;
}

/** One document file as the storage lists it. */
export interface DocumentEntry {
  /** Relative to the storage root, with `/` separators (as `documents.file_path` holds it). */
  path: string;
  sizeBytes: number;
  mtimeMs: number;
}

/** The DMS's document files, listed and read for snapshots. */
export interface DocumentSource {
  readonly location: string;
  /** Every document, a batch at a time (a folder, a page of keys): per-entry iteration costs more than the listing. */
  list(): AsyncIterable<readonly DocumentEntry[]>;
  open(path: string): Promise<NodeJS.ReadableStream>;
  /** The document's path on this machine, when it is a local file (a local repository then copies it itself). */
  localPath?(path: string): string;
}

/** A document as the DMS database records it. */
export interface RecordedDocument {
  id: number;
  sha256: string;
  /** Set when its `file_path` maps outside the storage (see mapDocumentPath): why it is refused. */
  escapes?: string;
}

/**
 * What the DMS database says each document's SHA-256 is, keyed by its path in the storage (relative to the
 * root with `/`, as the listing names files): `documents.file_path` mapped through the storage layout. A
 * file path the layout refuses stays keyed as the DMS holds it, with `escapes` set; no listed path equals it.
 */
export interface DocumentChecksums {
  load(): Promise<Map<string, RecordedDocument>>;
}

/** Hashes document files, as many at once as the machine has cores. */
export interface DocumentHasher {
  /** SHA-256 and size of one document (path as `documents.file_path` holds it). */
  hash(path: string): Promise<{ sha256: string; sizeBytes: number }>;
  close(): Promise<void>;
}

/** One row of the DMS's own `audit_ledger`. */
export interface LedgerRow {
  id: number;
  /** UTC, ISO 8601. */
  created_at: string;
  actor: string;
  action: string;
  detail: string;
}

/** The DMS's audit ledger, read-only. */
export interface AuditLedger {
  since(from: Date): Promise<LedgerRow[]>;
}

/** A database beside the live one (restored, or kept after a swap): a SQLite file path or a PostgreSQL database name. */
export interface DatabaseRef {
  engine: 'sqlite' | 'postgres';
  /** SQLite: the file's path; PostgreSQL: the database's name on the live server. */
  name: string;
  /** Where it is, for messages (never with a password). */
  location: string;
}

/** What a restored (or kept) database holds, checked before it may go live. */
export interface DatabaseInspection {
  /** `ok`, or what the integrity check reported. */
  integrity: string;
  counts: { documents: number; users: number; tenants: number };
}

/** How a database goes back in. */
export interface SwapOptions {
  /**
   * The replacement failed its integrity check (a kept database brought back by `restore undo`): it goes
   * back exactly as it is, byte for byte, with its side files; nothing is opened, folded or rewritten.
   */
  asIs?: boolean;
}

/**
 * Restores backups beside the live DMS database and swaps them in (DESIGN.md §6, "safe swap"): the live
 * database is only ever replaced in one atomic step, so a crash at any moment leaves either the old or the
 * fully restored database live, never a partial one.
 */
export interface DatabaseRestorer {
  readonly engine: 'sqlite' | 'postgres';
  /** Restores a backup file (as the dumper wrote it) into a new database beside the live one; the live one is not touched. */
  restoreToScratch(dumpFile: string, label: string, signal: AbortSignal): Promise<DatabaseRef>;
  /** Integrity check and counts of a database beside the live one. */
  inspect(target: DatabaseRef, signal: AbortSignal): Promise<DatabaseInspection>;
  /**
   * Every check of `swapIn` that can be made while the DMS still runs (the replacement is there and can be
   * moved, the kept name is free, the folder or server takes the change): a swap that cannot be made is
   * refused before the service is stopped. Throws saying what stands in the way; changes nothing live.
   */
  checkSwap(replacement: DatabaseRef, label: string, options?: SwapOptions): Promise<void>;
  /**
   * Makes `replacement` the live database in one atomic step; the previous live database is kept and
   * returned (undefined when there was none: a complete loss).
   */
  swapIn(replacement: DatabaseRef, label: string, options?: SwapOptions): Promise<DatabaseRef | undefined>;
  /** Removes a database beside the live one (a scratch that will not be used); never the live one. */
  drop(target: DatabaseRef): Promise<void>;
  /** The scratch database `restoreToScratch` makes for `label` (whether or not it exists). */
  scratchFor(label: string): DatabaseRef;
}

/** The content a document must have: its SHA-256 and size. */
export interface ExpectedContent {
  sha256: string;
  sizeBytes: number;
}

/** Writes document files back into the DMS's storage (restores): whole and verified, or not at all. */
export interface DocumentWriter {
  readonly location: string;
  /**
   * Writes one document at its storage path (as `documents.file_path` holds it), replacing what is there
   * atomically and hashing on the way: bytes that are not `expected` are refused and nothing changes.
   * Takes ownership of `content`: it is consumed or destroyed, also on failure.
   */
  write(path: string, content: NodeJS.ReadableStream, expected: ExpectedContent): Promise<void>;
  /** Makes the storage root when it is gone (an uploads folder lost with its volume); true when it had to. */
  ensureRoot?(): Promise<boolean>;
}
