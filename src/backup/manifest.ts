import type { BackupKind, BackupSummary } from '../ports/backup-repository.ts';

/** Manifests live under this folder (or key prefix) of the repository, one JSON file per backup. */
export const MANIFEST_DIR = 'manifests';

const KINDS: readonly BackupKind[] = ['db', 'storage', 'config'];

/** Reads the summary fields of a manifest; undefined for anything that is not one, so a stray file never breaks a listing. */
export function summarizeManifest(json: string): BackupSummary | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const m = value as Partial<{ id: unknown; kind: unknown; finished_at: unknown; size_bytes: unknown; verified: unknown }>;
  if (typeof m.id !== 'string' || !KINDS.includes(m.kind as BackupKind) || typeof m.finished_at !== 'string') return undefined;
  if (Number.isNaN(Date.parse(m.finished_at))) return undefined;
  return {
    id: m.id,
    kind: m.kind as BackupKind,
    finishedAt: new Date(m.finished_at).toISOString(),
    sizeBytes: typeof m.size_bytes === 'number' ? m.size_bytes : 0,
    verified: m.verified === true,
  };
}
