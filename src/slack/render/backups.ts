import type { KnownBlock } from '@slack/types';
import type { BackupManifest } from '../../backup/manifest.ts';
import type { BackupRow, FailedBackup } from '../../commands/types.ts';
import { formatDuration } from '../../config/duration.ts';
import type { CatalogRebuild, RepositoryVerification } from '../../procedures/verify-backups.ts';
import { rebuiltLine } from '../../render/rebuilt.ts';
import { formatBytes } from '../../domain/format.ts';
import { BACKUP_BLOCK } from '../ids.ts';
import { escapeInline, escapeMrkdwn } from '../../render/mrkdwn.ts';
import { fitMessage, type SlackMessage } from './limits.ts';

/** Block Kit for a finished `/dr backup`: what was taken and how it was proven. */
export function backupTakenBlocks(taken: readonly BackupManifest[], failed: readonly FailedBackup[] = []): SlackMessage {
  const lines = taken.map((m) => {
    const seconds = formatDuration(Date.parse(m.finished_at) - Date.parse(m.started_at));
    const v = m.verification;
    if (m.kind === 'config') {
      const sealed = m.encryption ? `encrypted (key \`${m.encryption.key_fingerprint}\`)` : '*not encrypted* (DR_BACKUP_KEY unset; mode 0600)';
      return `${m.encryption ? '✅' : '⚠️'} *config* \`${m.id}\` — ${formatBytes(m.size_bytes)}, ${v.archive_entries ?? 0} entries read back, ${sealed}`;
    }
    if (m.kind === 'storage') {
      const problems = [...(v.checksum_mismatches ?? []).map((p) => `❌ checksum mismatch: \`${escapeMrkdwn(p)}\``), ...(v.missing ?? []).map((p) => `❌ missing: \`${escapeMrkdwn(p)}\``), ...(v.escaping ?? []).map((p) => `❌ file path outside the uploads folder (refused): \`${escapeMrkdwn(p)}\``)];
      return `${v.integrity === 'ok' ? '✅' : m.verified ? '⚠️' : '❌'} *storage* \`${m.id}\`${m.verified ? '' : ' *NOT verified* (a document does not match its recorded checksum)'} — ${m.documents?.length ?? 0} files, ${formatBytes(m.size_bytes)} in ${seconds}; copied ${v.copied?.files ?? 0}, reused ${v.copied?.reused ?? 0}${v.full_because ? `\n⚠️ taken in full: ${v.full_because}` : ''}${problems.length ? `\n${problems.slice(0, 10).join('\n')}` : ''}`;
    }
    const counts = m.verification.counts ? `, ${m.verification.counts.documents} documents` : '';
    return `✅ *${m.kind}* \`${m.id}\` — ${formatBytes(m.size_bytes)} in ${seconds}, verified (integrity ${m.verification.integrity}${counts}, SHA-256 ${m.files[0]?.sha256.slice(0, 8) ?? '?'} re-read)`;
  });
  for (const f of failed) lines.push(`❌ *${f.kind}* backup FAILED: ${escapeMrkdwn(f.message)}`);
  const text = `Backup finished: ${escapeInline([...taken.map((m) => m.id), ...failed.map((f) => `${f.kind} FAILED`)].join(', '))}`;
  return fitMessage({ text, blocks: [{ type: 'section', block_id: BACKUP_BLOCK.result, text: { type: 'mrkdwn', text: lines.join('\n') } }] });
}

/** Block Kit for `/dr backups`: newest first, with age, size, verification and the retention rules that keep each. */
export function backupListBlocks(
  rows: readonly BackupRow[],
  now: string,
  violations: readonly string[],
  extra: { rebuilt?: CatalogRebuild; verification?: RepositoryVerification; fromRepository?: string } = {},
): SlackMessage {
  const lines = rows.slice(0, 40).map((r) => {
    const age = formatDuration(Math.max(0, Date.parse(now) - Date.parse(r.finishedAt)));
    // Prune forgets only verified backups retention does not keep; an unverified one stays as evidence.
    const kept = r.keptBy.length > 0 ? r.keptBy.join(', ') : r.verified ? '_not kept: pruned next_' : '_kept as evidence, not counted by retention_';
    return `\`${r.id}\` · ${age} ago · ${formatBytes(r.sizeBytes)} · ${r.verified ? '✅ verified' : '❌ unverified'} · ${kept}`;
  });
  const more = rows.length > 40 ? `\n…and ${rows.length - 40} older` : '';
  const blocks: KnownBlock[] = [
    { type: 'section', block_id: BACKUP_BLOCK.list, text: { type: 'mrkdwn', text: `${lines.join('\n') || 'No backups catalogued yet.'}${more}` } },
  ];
  if (violations.length > 0) {
    blocks.push({ type: 'section', block_id: BACKUP_BLOCK.violations, text: { type: 'mrkdwn', text: violations.map((v) => `⚠️ retention: ${escapeMrkdwn(v)}`).join('\n') } });
  }
  if (extra.fromRepository) {
    blocks.unshift({ type: 'section', text: { type: 'mrkdwn', text: `⚠️ Listed from the repository's manifests. ${escapeMrkdwn(extra.fromRepository)}`.slice(0, 3000) } });
  }
  if (extra.rebuilt !== undefined) {
    blocks.unshift({ type: 'section', block_id: BACKUP_BLOCK.rebuilt, text: { type: 'mrkdwn', text: rebuiltLine(extra.rebuilt) } });
  }
  const v = extra.verification;
  if (v) {
    const text =
      v.damage.length === 0
        ? `✅ Repository verified: ${v.checkedFiles} files of ${v.checkedBackups} backups match their SHA-256.`
        : `❌ *Repository damaged*: ${v.damage.length} of ${v.checkedFiles} files (now marked unverified)\n${v.damage
            .slice(0, 20)
            .map((d) => `• \`${d.backupId}\`: \`${escapeMrkdwn(d.file)}\` — ${escapeMrkdwn(d.problem)}`)
            .join('\n')}`;
    blocks.push({ type: 'section', block_id: BACKUP_BLOCK.verification, text: { type: 'mrkdwn', text } });
  }
  return fitMessage({ text: `${rows.length} backups`, blocks });
}
