import { failureLines, groupFailures } from '../domain/document-failures.ts';
import { rebuiltLine } from '../render/rebuilt.ts';
import type { BackupManifest } from '../backup/manifest.ts';
import { BACKUP_KINDS } from '../ports/backup-repository.ts';
import type { CommandOutcome } from '../commands/types.ts';
import type { DrError } from '../domain/errors.ts';
import { STATE_EMOJI, STATE_HEADLINE, type StatusReport } from '../domain/status.ts';
import { errorLines } from '../render/error.ts';
import { formatDuration } from '../config/duration.ts';
import { formatBytes } from '../domain/format.ts';
import type { Gate } from '../domain/gate.ts';
import { RECOVERY_CHECKLIST } from '../domain/incident.ts';
import type { Run } from '../domain/run.ts';
import { alertLines, incidentLine, planFacts, RUN_MARK, runFacts, stepMark } from '../render/plan.ts';


/** Terminal text for a command's outcome. */
export function renderOutcome(outcome: CommandOutcome): string {
  switch (outcome.kind) {
    case 'help': {
      const width = Math.max(...outcome.entries.map((e) => e.usage.length));
      const lines = outcome.entries.map((e) => `  ${e.usage.padEnd(width)}  ${e.summary} (${e.risk})${e.built ? '' : ' [not built yet]'}`);
      return `dr — disaster recovery for Alphha DMS\n\nUsage: dr COMMAND [--json]\n\n${lines.join('\n')}\n`;
    }
    case 'status':
      return renderStatus(outcome.report);
    case 'history': {
      const rows = outcome.entries.map((e) => `#${e.id}  ${e.at}  ${e.source}/${e.actor}  ${JSON.stringify(e.text.slice(0, 60))}  → ${e.outcome}`);
      const verdict = outcome.verdict
        ? outcome.verdict.ok
          ? `\n✅ chain intact: ${outcome.verdict.checked} rows verified`
          : `\n❌ chain broken at row #${outcome.verdict.badId}: ${outcome.verdict.reason}`
        : '';
      return `${rows.join('\n') || 'No actions recorded yet.'}${verdict}\n`;
    }
    case 'checksums': {
      const r = outcome.report;
      const head = r.problems.length === 0
        ? `✅ All ${r.checked} documents match their recorded SHA-256 (${formatBytes(r.bytes)} in ${formatDuration(r.ms)}).`
        : `❌ ${r.problems.length} of ${r.checked} documents do not match their recorded SHA-256 (${formatBytes(r.bytes)} in ${formatDuration(r.ms)}):`;
      // The causes first, grouped (`12 × permission denied: documents …`), then every document.
      const causes = failureLines(groupFailures(r.problems)).map((line) => `   ${line}`);
      return `${[head, ...causes, ...(causes.length ? ['   every document:'] : []), ...r.problems.map((p) => `   document ${p.id}  ${p.path}  ${p.actual === 'missing' || p.actual.startsWith('unreadable') ? p.actual : `is ${p.actual.slice(0, 12)}…, recorded ${p.expected.slice(0, 12)}…`}`)].join('\n')}\n`;
    }
    case 'audit':
      // The CSV alone, so `dr audit 24h > ledger.csv` is the whole export; the summary goes to stderr.
      return outcome.csv;
    case 'backup':
      return [
        // In the order they ran, failures among the successes.
        ...BACKUP_KINDS.flatMap((kind) => [
          ...outcome.taken.filter((m) => m.kind === kind).flatMap((m) => backupLines(m)),
          ...(outcome.failed ?? []).filter((f) => f.kind === kind).map((f) => `❌ ${f.kind} backup FAILED: ${f.message}`),
        ]),
        '',
      ].join('\n');
    case 'plan':
      return renderPlan(outcome.gate, new Date());
    case 'incident':
      return `${incidentLine(outcome)}\n`;
    case 'checklist': {
      const done = outcome.incident.checklist ?? {};
      const lines = RECOVERY_CHECKLIST.map((item) => `  [${done[item.id] ? 'x' : ' '}] ${item.phase}: ${item.text}${done[item.id] ? ` (${done[item.id]!.by}, ${done[item.id]!.at})` : ''}`);
      return `Recovery checklist of incident ${outcome.incident.id} (${outcome.incident.title}):\n${lines.join('\n')}\n`;
    }
    case 'alerts':
      return `${[outcome.alerts.length === 0 ? '✅ No alert is firing.' : `${outcome.alerts.length} alert(s) open:`, ...alertLines(outcome.alerts, new Date(outcome.now)).map((l) => `  ${l}`)].join('\n')}\n`;
    case 'run':
      return renderRun(outcome.run);
    case 'backups': {
      const rows = outcome.rows.map((r) => {
        const age = formatDuration(Math.max(0, Date.parse(outcome.now) - Date.parse(r.finishedAt)));
        return `${r.id.padEnd(34)} ${`${age} ago`.padEnd(14)} ${formatBytes(r.sizeBytes).padStart(10)}  ${r.verified ? 'verified  ' : 'UNVERIFIED'}  ${r.keptBy.join(', ') || (r.verified ? 'not kept (pruned next)' : 'kept as evidence (not counted by retention)')}`;
      });
      const violations = outcome.violations.map((v) => `⚠️ retention: ${v}`);
      const rebuilt = outcome.rebuilt === undefined ? [] : [rebuiltLine(outcome.rebuilt), ''];
      const v = outcome.verification;
      const verified = v
        ? [
            '',
            v.damage.length === 0
              ? `✅ Repository verified: ${v.checkedFiles} files of ${v.checkedBackups} backups match their SHA-256.`
              : `❌ Repository damaged: ${v.damage.length} of ${v.checkedFiles} files in ${new Set(v.damage.map((d) => d.backupId)).size} backups (now marked unverified):`,
            ...v.damage.slice(0, 50).map((d) => `   ${d.backupId}: ${d.file}: ${d.problem}`),
          ]
        : [];
      const fromRepository = outcome.fromRepository ? [`⚠️ Listed from the repository's manifests. ${outcome.fromRepository}`, ''] : [];
      return `${[...rebuilt, ...fromRepository, ...(rows.length ? rows : ['No backups catalogued yet.']), ...violations, ...verified].join('\n')}\n`;
    }
  }
}

/** A plan behind its gate, as the terminal shows it before asking for the typed name. */
export function renderPlan(gate: Gate, now: Date): string {
  const plan = gate.plan;
  const facts = planFacts(plan, now).map(([label, value]) => `  ${label}: ${value}`);
  const steps = plan.steps.map((step, i) => `  ${i + 1}. ${step}`);
  const notes = plan.notes.map((note) => `  • ${note}`);
  const approvals = gate.approvalsNeeded > 0 ? `${gate.approvalsNeeded} approval(s) from slack.roles.approvers, or --break-glass` : 'no approval';
  return [`⚠️  ${plan.title}`, ...facts, '', 'Steps:', ...steps, ...(notes.length ? ['', ...notes] : []), '', `Nothing has run. Needs the typed system name and ${approvals}. Expires ${gate.expiresAt}.`, ''].join('\n');
}

/** A run's checklist and figures, printed when it ends. */
export function renderRun(run: Run): string {
  const steps = run.steps.map((step) => `  ${stepMark(step)} ${step.name}${step.detail ? ` — ${step.detail}` : ''}`);
  const facts = runFacts(run).map(([label, value]) => `  ${label}: ${value}`);
  return [`${RUN_MARK[run.status]} ${run.procedure} ${run.id}: ${run.status}`, ...steps, ...facts, ''].join('\n');
}

function renderStatus(report: StatusReport): string {
  const width = Math.max(...report.probes.map((p) => p.title.length));
  const lines = report.probes.flatMap((p) => [
    `${STATE_EMOJI[p.state]} ${p.title.padEnd(width)}  ${p.summary}  (${p.ms} ms)`,
    ...p.details.map((d) => `   ${' '.repeat(width)}  · ${d}`),
  ]);
  return `${STATE_EMOJI[report.overall]} ${report.system} is ${STATE_HEADLINE[report.overall]}  (${report.at})\n\n${lines.join('\n')}\n`;
}

function backupLines(m: BackupManifest): string[] {
  const v = m.verification;
  if (m.kind === 'config') {
    const sealed = m.encryption ? `encrypted (key ${m.encryption.key_fingerprint})` : 'NOT encrypted (DR_BACKUP_KEY unset; mode 0600)';
    return [
      `${m.encryption ? '✅' : '⚠️'} config backup ${m.id}: ${formatBytes(m.size_bytes)}, ${v.archive_entries ?? 0} entries read back, ${sealed}`,
      ...(v.missing ?? []).map((p) => `   ⚠️ configured but not found: ${p}`),
    ];
  }
  if (m.kind !== 'storage') return [`✅ ${m.kind} backup ${m.id}: ${formatBytes(m.size_bytes)}, verified (integrity ${v.integrity}, SHA-256 ${m.files[0]?.sha256.slice(0, 8) ?? '?'} re-read)`];
  const ok = v.integrity === 'ok';
  return [
    `${ok ? '✅' : m.verified ? '⚠️' : '❌'} storage snapshot ${m.id}:${m.verified ? '' : ' NOT verified (a document does not match its recorded checksum);'} ${m.documents?.length ?? 0} files, ${formatBytes(m.size_bytes)}; copied ${v.copied?.files ?? 0} (${formatBytes(v.copied?.bytes ?? 0)} new), reused ${v.copied?.reused ?? 0} unchanged; new objects checked`,
    ...(v.full_because ? [`   ⚠️ taken in full: ${v.full_because}`] : []),
    ...(v.checksum_mismatches ?? []).slice(0, 20).map((p) => `   ❌ checksum mismatch (kept as evidence, not as good): ${p}`),
    ...(v.missing ?? []).slice(0, 20).map((p) => `   ❌ listed in the DMS but missing from storage: ${p}`),
    ...(v.escaping ?? []).slice(0, 20).map((p) => `   ❌ file path outside the uploads folder (refused): ${p}`),
  ];
}

/** Terminal text (or JSON) for a refused or failed command. */
export function renderError(error: DrError, json: boolean): string {
  const { message, suggestion } = errorLines(error);
  if (json) return `${JSON.stringify({ error: { code: error.code, message, ...(error.hint ? { hint: error.hint } : {}) } })}\n`;
  return `dr: ${message}\n${suggestion ? `${suggestion}\n` : ''}`;
}

/** 0 healthy, 1 degraded, 2 error: what scripts and monitors read. */
export function exitCodeOf(outcome: CommandOutcome): number {
  if (outcome.kind === 'status') return outcome.report.overall === 'ok' ? 0 : 1;
  if (outcome.kind === 'history' && outcome.verdict && !outcome.verdict.ok) return 1;
  if (outcome.kind === 'backups' && outcome.verification && outcome.verification.damage.length > 0) return 1;
  if (outcome.kind === 'checksums' && outcome.report.problems.length > 0) return 1;
  if (outcome.kind === 'alerts' && outcome.alerts.length > 0) return 1;
  if (outcome.kind === 'run' && outcome.run.status !== 'succeeded') return 1;
  if (outcome.kind === 'backup' && (outcome.failed?.length || outcome.taken.some((m) => !m.verified))) return 1;
  return 0;
}

/** One line about an audit export, for stderr beside the CSV on stdout. */
export function auditSummary(outcome: Extract<CommandOutcome, { kind: 'audit' }>): string {
  return `dr: ${outcome.rowCount} audit_ledger rows from ${outcome.from} to ${outcome.until}\n`;
}

