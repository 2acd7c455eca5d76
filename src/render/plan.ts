import { formatDuration } from '../config/duration.ts';
import { formatBytes } from '../domain/format.ts';
import type { Plan } from '../domain/plan.ts';
import type { Run, StepRecord } from '../domain/run.ts';
import type { AlertRecord } from '../domain/alert.ts';
import { failureLines, type FailureGroup } from '../domain/document-failures.ts';

/** The facts of a plan as label/value pairs, the same wording in Slack and on a terminal. */
export function planFacts(plan: Plan, now: Date): Array<[string, string]> {
  const facts: Array<[string, string]> = [['Target', plan.target]];
  for (const backup of plan.backups) {
    const age = formatDuration(Math.max(0, now.getTime() - Date.parse(backup.finishedAt)));
    facts.push([`Backup (${backup.kind})`, `${backup.id} — ${age} old, ${formatBytes(backup.sizeBytes)}, verified ${backup.verifiedAt}`]);
  }
  if (plan.dataLossWindowMs !== undefined) facts.push(['Data-loss window', `${formatDuration(plan.dataLossWindowMs)} (changes since ${plan.backups[0]?.pointInTime ?? 'the backup'} are lost)`]);
  facts.push(['Expected duration', plan.expectedDurationMs !== undefined ? `about ${formatDuration(plan.expectedDurationMs)} (past runs)` : 'unknown (no past run or drill yet)']);
  facts.push(['Plan hash', plan.hash.slice(0, 12)]);
  return facts;
}

/** A run's figures as label/value pairs: duration, downtime, data lost, what was kept, why it stopped. */
export function runFacts(run: Run): Array<[string, string]> {
  const s = run.summary;
  const facts: Array<[string, string]> = [];
  if (typeof s.durationMs === 'number') facts.push(['Duration', formatDuration(s.durationMs)]);
  if (typeof s.downtimeMs === 'number') facts.push(['Downtime (stop → start)', formatDuration(s.downtimeMs)]);
  if (typeof s.dataLossWindowMs === 'number') facts.push(['Data lost (RPO suffered)', `${formatDuration(s.dataLossWindowMs)} — data after ${String(s.backupPointInTime)}`]);
  const counts = s.counts as { documents: number; users: number; tenants: number } | undefined;
  if (counts) facts.push(['Counts', `${counts.documents} documents, ${counts.users} users, ${counts.tenants} tenants`]);
  const live = s.liveCounts as { documents: number; users: number; tenants: number } | undefined;
  if (live) facts.push(['Live counts', `${live.documents} documents, ${live.users} users, ${live.tenants} tenants`]);
  const test = s.restoreTest as { ok: boolean; detail: string } | undefined;
  if (test) facts.push(['Restore test', `${test.ok ? 'passed' : 'FAILED'} — ${test.detail}${s.markedUnverified ? ' (the backup is now marked unverified)' : ''}`]);
  if (typeof s.configFiles === 'number') facts.push(['Config files restored', String(s.configFiles)]);
  if (typeof s.documentsReadBack === 'number') facts.push(['Documents read back', `${s.documentsReadBack} (${formatBytes(Number(s.documentBytes ?? 0))})`]);
  if (typeof s.rtoMs === 'number' && typeof s.rtoTargetMs === 'number') {
    const verdict = s.withinRto === true ? 'within the target' : run.status === 'succeeded' ? 'OVER the target' : 'not achieved: the drill failed';
    facts.push(['Measured RTO', `${formatDuration(s.rtoMs)} (target ${formatDuration(s.rtoTargetMs)}) — ${verdict}`]);
  }
  if (s.recreatedRoot === true) facts.push(['Uploads folder', 'did not exist: created it, then wrote the documents back']);
  if (typeof s.written === 'number') facts.push(['Documents written back', `${s.written} (${formatBytes(Number(s.writtenBytes ?? 0))})`]);
  const from = s.restoredFrom as Array<{ snapshot: string; count: number; ids: number[] }> | undefined;
  if (Array.isArray(from)) facts.push(['Taken from', failureLines(from.map((g) => ({ ...g, reason: g.snapshot }))).join('; ')]);
  // Grouped by reason (`12 × permission denied: documents …`): one line per cause, whatever the count.
  const groups = (value: unknown) => (Array.isArray(value) && value.every((g) => typeof g === 'object' && g !== null && 'reason' in g) ? failureLines(value as FailureGroup[]).join('; ') : undefined);
  const failed = groups(s.writeBackFailed);
  if (failed) facts.push(['Not written back', failed]);
  const lost = groups(s.unrecoverable);
  if (lost) facts.push(['Cannot be restored (lost)', lost]);
  const mismatches = groups(s.mismatches);
  if (mismatches) facts.push(['Still not matching', mismatches]);
  const kept = s.kept as { location: string } | undefined;
  if (kept) facts.push(['Kept for undo', kept.location]);
  // Secrets are only ever shown as fingerprints (first 8 hex of a keyed HMAC-SHA-256), old → new.
  const rotated = s.rotated as Array<{ key: string; from: string; to: string }> | undefined;
  if (Array.isArray(rotated) && rotated.length) facts.push(['Rotated (fingerprints, old → new)', rotated.map((r) => `${r.key} ${r.from} → ${r.to}`).join('; ')]);
  if (typeof s.envBackup === 'string') facts.push(['Old env file kept as', `${s.envBackup} (mode 0600)`]);
  if (typeof s.failedStep === 'string') facts.push(['Failed at', `${s.failedStep}: ${String(s.reason)}`]);
  if (Array.isArray(s.recovery)) facts.push(['After the failure', s.recovery.join('; ')]);
  if (Array.isArray(s.manual)) facts.push(['Still to do by hand', s.manual.join(' ')]);
  if (typeof s.interruptedAfter === 'string') facts.push(['Interrupted after', s.interruptedAfter]);
  return facts;
}

/** The mark of a step's state, the same in Slack and on a terminal. */
export const STEP_MARK = { pending: '▫️', running: '⏳', done: '✅', failed: '❌', skipped: '⏭️' } as const;

/** A step's mark: its state's, except a done step with a warning, which never gets a green tick. */
export function stepMark(step: Pick<StepRecord, 'status' | 'warning'>): string {
  return step.status === 'done' && step.warning ? '⚠️' : STEP_MARK[step.status];
}

/** The mark of a run's outcome. */
export const RUN_MARK = { running: '⏳', succeeded: '✅', failed: '❌', interrupted: '⚠️' } as const;

/** One line per open alert, the same wording in Slack and on a terminal. */
export function alertLines(alerts: readonly AlertRecord[], now: Date): string[] {
  return alerts.map((a) => {
    const since = formatDuration(Math.max(0, now.getTime() - Date.parse(a.firingSince)));
    const who = a.state === 'acknowledged' ? `, acknowledged by ${a.acknowledgedBy}` : ', not acknowledged';
    return `${a.severity === 'critical' ? '🔴' : '🟠'} ${a.alert} (${a.severity}) — ${a.summary.slice(0, 200)} — for ${since}${who}`;
  });
}

/** What an incident command did, in one line (the thread itself is in the stakeholder channel). */
export function incidentLine(outcome: { action: string; incident: { id: string; title: string; channel: string }; resolution?: { downtimeMs: number; dataLossMs?: number } }): string {
  const figures = outcome.resolution
    ? ` Downtime ${formatDuration(outcome.resolution.downtimeMs)}${outcome.resolution.dataLossMs !== undefined ? `, data lost ${formatDuration(outcome.resolution.dataLossMs)}` : ', no restore ran'}.`
    : '';
  return `Incident ${outcome.incident.id} ("${outcome.incident.title}") ${outcome.action}; the thread is in ${outcome.incident.channel}.${figures}`;
}
