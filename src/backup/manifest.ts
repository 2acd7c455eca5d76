import { BACKUP_KINDS, type BackupKind, type BackupSummary } from '../ports/backup-repository.ts';
import type { EncryptionInfo } from './encryption.ts';

/** Manifests live under this folder (or key prefix) of the repository, one JSON file per backup. */
export const MANIFEST_DIR = 'manifests';


/** Reads the summary fields of a manifest; undefined for anything that is not one, so a stray file never breaks a listing. */
export function summarizeManifest(json: string): BackupSummary | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const m = value as Partial<{ id: unknown; kind: unknown; finished_at: unknown; size_bytes: unknown; verified: unknown }>;
  if (typeof m.id !== 'string' || !BACKUP_KINDS.includes(m.kind as BackupKind) || typeof m.finished_at !== 'string') return undefined;
  if (Number.isNaN(Date.parse(m.finished_at))) return undefined;
  return {
    id: m.id,
    kind: m.kind as BackupKind,
    finishedAt: new Date(m.finished_at).toISOString(),
    sizeBytes: typeof m.size_bytes === 'number' ? m.size_bytes : 0,
    verified: m.verified === true,
  };
}

/** One file of a backup, as the manifest records it. */
export interface ManifestFile {
  key: string;
  size_bytes: number;
  sha256: string;
}

/** The JSON written last for every backup (format 1): what it is, where it came from, and how to check it. */
export interface BackupManifest {
  format: 1;
  id: string;
  kind: BackupKind;
  started_at: string;
  finished_at: string;
  source: { engine?: string; location: string };
  files: ManifestFile[];
  size_bytes: number;
  tools: Record<string, string>;
  verified: boolean;
  verification: {
    integrity: string;
    counts?: { documents: number; users: number; tenants: number };
    /** Why a database backup recorded no counts; a later restore test can then only check integrity. */
    counts_unavailable?: string;
    hashes_rechecked: boolean;
    /** Storage snapshots: files whose content does not match `documents.checksum_sha256`. */
    checksum_mismatches?: string[];
    /** Storage snapshots: files the DMS database lists that the storage does not have; config: configured paths that do not exist. */
    missing?: string[];
    /** Storage snapshots: `documents.file_path` values that map outside the storage (refused, never read). */
    escaping?: string[];
    /** Config archives: entries read back from the (decrypted) archive. */
    archive_entries?: number;
    /** Set by a later repository check: what no longer matches, exactly. */
    damaged?: string[];
    /** Storage snapshots: how much of the work the previous snapshot saved. */
    copied?: { files: number; bytes: number; reused: number };
    /** Storage snapshots: why this one was taken in full though a previous one was catalogued (its manifest was gone). */
    full_because?: string;
    /** Database backups: the newest restore test (`verify backup`, runbook §4.1). */
    restore_test?: RestoreTest;
  };
  /** Storage snapshots: every document file and the object holding its content. */
  documents?: SnapshotDocument[];
  /** Encrypted backups (config archives when DR_BACKUP_KEY is set): how, and which key. */
  encryption?: EncryptionInfo;
}

/** A database backup restored into a scratch database, checked, and counted beside the live database. */
export interface RestoreTest {
  at: string;
  /** The backup restored, passed its integrity check and holds the counts its manifest recorded. */
  ok: boolean;
  /** What the restored copy holds. */
  counts?: { documents: number; users: number; tenants: number };
  /** What the live database held at the same time (it may have grown since the backup). */
  live_counts?: { documents: number; users: number; tenants: number };
  detail: string;
}

/** One document file in a storage snapshot. */
export interface SnapshotDocument {
  path: string;
  size_bytes: number;
  mtime_ms: number;
  sha256: string;
  /** Against the DMS's own `documents.checksum_sha256`: a mismatch is kept as evidence, never as good. */
  checksum: 'ok' | 'mismatch' | 'unknown';
}

/**
 * Whether a storage snapshot's objects were all read back intact: verified, or unverified only because a
 * document did not match `documents.checksum_sha256` (what was stored is still exactly what was read).
 */
export function snapshotObjectsProven(m: BackupManifest): boolean {
  if (m.verified) return true;
  const v = m.verification;
  return m.kind === 'storage' && v.hashes_rechecked && !v.damaged?.length && (v.checksum_mismatches?.length ?? 0) > 0;
}

/** `db-20261126T030500Z-3f9a`: kind, UTC time to the second, and a random tail so two replicas never collide. */
export function newBackupId(kind: BackupKind, at: Date, random: string): string {
  return `${kind}-${at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')}-${random}`;
}
