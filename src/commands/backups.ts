import { applyRetention, retentionViolations } from '../backup/retention.ts';
import { DrError } from '../domain/errors.ts';
import { BACKUP_KINDS, type BackupKind, type BackupSummary } from '../ports/backup-repository.ts';
import { catalogLostAdvice, knownBackups } from '../procedures/status.ts';
import { defineCommand, type BackupRow } from './types.ts';

// How long a listing may spend reading the repository's manifests when the catalog is empty.
const REPOSITORY_SCAN_MS = 60_000;

/** `/dr backups [db|storage|config]`: the catalog, newest first, with what retention keeps each for. */
export const backupsCommand = defineCommand({
  name: 'backups',
  usage: 'backups [db|storage|config] [--verify] [--rebuild]',
  summary: 'catalogued backups: age, size, verified, kept by daily/weekly/monthly; --verify re-reads every file, --rebuild restores the catalog from the repository (both operate)',
  risk: 'read',
  parse: (args) => {
    let kind: BackupKind | undefined;
    let verify = false;
    let rebuild = false;
    for (const arg of args.map((a) => a.toLowerCase())) {
      if (arg === '--verify') verify = true;
      else if (arg === '--rebuild') rebuild = true;
      else if (kind === undefined && (BACKUP_KINDS as readonly string[]).includes(arg)) kind = arg as BackupKind;
      else throw new DrError('COMMAND_MALFORMED', '`backups` takes one of db, storage, config, and --verify or --rebuild. Nothing was run.', { hint: 'backups db' });
    }
    return { kind, verify, rebuild };
  },
  // Listing is for everyone; re-reading the whole repository and rewriting the catalog are operate work.
  riskOf: ({ verify, rebuild }) => (verify || rebuild ? 'operate' : 'read'),
  run: async (deps, { kind, verify, rebuild }) => {
    // Rebuild first: a verification of an empty catalog would prove nothing.
    const rebuilt = rebuild ? await deps.rebuildCatalog() : undefined;
    const verification = verify ? await deps.verifyBackups(kind) : undefined;
    const { retention, timezone } = deps.config.backups;
    const now = deps.status.now();
    const kinds = kind ? [kind] : BACKUP_KINDS;
    let listed: BackupSummary[] = [];
    for (const each of kinds) {
      listed.push(...(await deps.store.listCatalog({ kind: each })).map((m) => ({ id: m.id, kind: m.kind, finishedAt: m.finished_at, sizeBytes: m.size_bytes, verified: m.verified })));
    }
    // An empty catalog is not proof that there are no backups: the repository's manifests are listed instead
    // (read-only, as status does), and the answer says how to bring the catalog back.
    let fromRepository: string | undefined;
    if (listed.length === 0 && rebuilt === undefined) {
      const found = await knownBackups(deps.status, AbortSignal.timeout(REPOSITORY_SCAN_MS), kinds).catch(() => undefined);
      if (found && !found.fromCatalog && found.backups.length > 0) {
        listed = found.backups;
        fromRepository = catalogLostAdvice(deps.status.repository.location, found.backups);
      }
    }
    const rows: BackupRow[] = [];
    const violations: string[] = [];
    for (const each of kinds) {
      const ofKind = listed.filter((b) => b.kind === each);
      // Retention applies per kind, and only verified backups count towards it.
      const verified = ofKind.filter((b) => b.verified).map((b) => ({ id: b.id, finishedAt: b.finishedAt }));
      const keptBy = new Map(applyRetention(verified, retention, timezone).map((d) => [d.id, d.reasons]));
      rows.push(...ofKind.map((b) => ({ ...b, keptBy: keptBy.get(b.id) ?? [] })));
      if (each === 'db') violations.push(...retentionViolations(verified, retention, timezone, now).map((v) => `db: ${v}`));
    }
    rows.sort((a, b) => b.finishedAt.localeCompare(a.finishedAt));
    return {
      kind: 'backups',
      rows,
      now: now.toISOString(),
      violations,
      ...(rebuilt === undefined ? {} : { rebuilt }),
      ...(verification ? { verification } : {}),
      ...(fromRepository ? { fromRepository } : {}),
    };
  },
});
