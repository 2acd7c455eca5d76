import { formatDuration } from '../config/duration.ts';
import { errorText } from '../domain/errors.ts';
import { formatBytes } from '../domain/format.ts';
import { worstState, type ProbeResult, type ProbeState, type StatusReport } from '../domain/status.ts';
import type { BackupKind, BackupRepository, BackupSummary } from '../ports/backup-repository.ts';
import type { DmsDatabase, DmsEndpoints, DocumentStore } from '../ports/dms.ts';
import type { Run } from '../domain/run.ts';
import { withDeadline } from './deadline.ts';
import { guardStuck } from './stuck-guard.ts';
import { DEAD_RECENT_MS, judgeOutbox } from '../alerts/outbox-health.ts';
import type { OutboxTargetHealth } from '../ports/state-store.ts';

/** What `collectStatus` needs; every port is probed concurrently under its own deadline. */
export interface StatusDeps {
  systemName: string;
  database: DmsDatabase;
  storage: DocumentStore;
  endpoints: DmsEndpoints;
  repository: BackupRepository;
  pagerdutyConfigured: boolean;
  /** Whether DR_BACKUP_KEY is set: config backups hold secrets. */
  backupEncryption: boolean;
  thresholds: { storageUsedPct: number };
  objectives: { rpoMs: number; rtoMs: number };
  /** Recent `drill` runs, newest first (the measured RTO). */
  drills: () => Promise<Run[]>;
  /**
   * The newest catalogued backups of each kind: one query instead of reading every manifest. When it is
   * absent, empty or unreachable (the bot's state was lost), the repository's manifests are listed instead.
   */
  catalog?: () => Promise<BackupSummary[]>;
  /** The bot's notification outbox per target (dead messages counted from `deadSince`); no line without it. */
  outbox?: (options: { deadSince: string }) => Promise<OutboxTargetHealth[]>;
  probeTimeoutMs: number;
  now: () => Date;
}

type Verdict = Omit<ProbeResult, 'id' | 'title' | 'ms'>;

/** Probes every component of the DMS at once and judges each against the runbook's targets. */
export async function collectStatus(deps: StatusDeps): Promise<StatusReport> {
  const guarded = guardsFor(deps);
  const probe = async (id: ProbeResult['id'], title: string, run: (signal: AbortSignal) => Promise<Verdict>) => {
    const started = performance.now();
    let verdict: Verdict;
    try {
      verdict = await withDeadline(deps.probeTimeoutMs, run);
    } catch (error) {
      verdict = { state: 'fail', summary: errorText(error), details: [] };
    }
    return { id, title, ...verdict, ms: Math.round(performance.now() - started) } satisfies ProbeResult;
  };

  const probes = await Promise.all([
    probe('database', 'DMS database', (signal) => judgeDatabase(deps, signal)),
    probe('health', 'Health endpoint', (signal) => judgeHealth(deps, signal)),
    probe('metrics', 'Metrics endpoint', (signal) => judgeMetrics(deps, signal)),
    probe('storage', 'Document storage', (signal) => guarded.storage(signal)),
    probe('backups', 'Backups', (signal) => guarded.backups(signal)),
    probe('drills', 'Recovery drills', () => judgeDrills(deps)),
    probe('pagerduty', 'PagerDuty', async () => judgePagerDuty(deps)),
    ...(deps.outbox ? [probe('outbox', 'Alert delivery', (signal) => judgeOutboxNow(deps, signal))] : []),
  ]);
  const judged = withDmsViewOfDatabase(probes);
  return {
    system: deps.systemName,
    at: deps.now().toISOString(),
    overall: worstState(judged.map((p) => p.state)),
    probes: judged,
  };
}

/**
 * The DMS's own view of its database (the health endpoint's `database` component) counts too (DESIGN §7:
 * "or health says database down"): the bot reading the file or connecting itself does not prove the DMS can.
 */
function withDmsViewOfDatabase(probes: ProbeResult[]): ProbeResult[] {
  const health = probes.find((p) => p.id === 'health');
  const reported = health?.details.find((d) => /^(database|db):/i.test(d));
  if (!reported || componentState(reported.replace(/^[^:]+:\s*/, '').split(' ')[0] ?? '') !== 'fail') return probes;
  return probes.map((p) =>
    p.id === 'database' && p.state !== 'fail'
      ? { ...p, state: 'fail', summary: `the DMS reports its database down (${reported}); the bot's own check: ${p.summary}` }
      : p,
  );
}

// Filesystem probes keep running after their deadline; one guard per deps object remembers them across calls.
const guards = new WeakMap<StatusDeps, { storage: (signal: AbortSignal) => Promise<Verdict>; backups: (signal: AbortSignal) => Promise<Verdict> }>();

function guardsFor(deps: StatusDeps) {
  let guard = guards.get(deps);
  if (!guard) {
    guard = {
      storage: guardStuck('storage', (signal) => judgeStorage(deps, signal)),
      backups: guardStuck('backup repository', (signal) => judgeBackups(deps, signal)),
    };
    guards.set(deps, guard);
  }
  return guard;
}

async function judgeDatabase(deps: StatusDeps, signal: AbortSignal): Promise<Verdict> {
  const facts = await deps.database.probe(signal);
  const counts = `${facts.counts.documents} documents, ${facts.counts.users} users, ${facts.counts.tenants} tenants`;
  const engine = facts.engine === 'sqlite' ? `SQLite ${facts.version}` : `PostgreSQL ${facts.version}`;
  if (facts.integrity !== 'ok') {
    return { state: 'fail', summary: `integrity check failed: ${facts.integrity}`, details: [engine, deps.database.location] };
  }
  return { state: 'ok', summary: `${engine}, integrity ok, ${counts}`, details: [deps.database.location] };
}

async function judgeHealth(deps: StatusDeps, signal: AbortSignal): Promise<Verdict> {
  const facts = await deps.endpoints.health(signal);
  const components = Object.entries(facts.components).map(([name, c]) => ({ name, state: componentState(c.status), ...c }));
  const details = components.map((c) => `${c.name}: ${c.status}${c.detail ? ` (${c.detail})` : ''}`);
  const state = worstState([facts.httpStatus >= 200 && facts.httpStatus < 300 ? componentState(facts.status) : 'fail', ...components.map((c) => c.state)]);
  const unhealthy = components.filter((c) => c.state !== 'ok').map((c) => `${c.name} ${c.status}`);
  const summary = `HTTP ${facts.httpStatus}, ${facts.status}` + (unhealthy.length ? `: ${unhealthy.join(', ')}` : '');
  return { state, summary, details };
}

/** A health status word as ok, warn or fail. */
export function componentState(status: string): ProbeState {
  const normalized = status.toLowerCase();
  if (['healthy', 'ok', 'up', 'pass'].includes(normalized)) return 'ok';
  if (['degraded', 'warn', 'warning'].includes(normalized)) return 'warn';
  return 'fail';
}

async function judgeMetrics(deps: StatusDeps, signal: AbortSignal): Promise<Verdict> {
  const facts = await deps.endpoints.metrics(signal);
  if (facts.httpStatus < 200 || facts.httpStatus >= 300) return { state: 'fail', summary: `HTTP ${facts.httpStatus}`, details: [] };
  if (facts.samples === 0) return { state: 'warn', summary: 'reachable, but no samples in the answer', details: [] };
  return { state: 'ok', summary: `reachable, ${facts.samples} samples`, details: [] };
}

async function judgeStorage(deps: StatusDeps, signal: AbortSignal): Promise<Verdict> {
  const facts = await deps.storage.probe(signal);
  if (facts.kind === 's3') return { state: 'ok', summary: `bucket ${facts.bucket} reachable (${facts.region})`, details: [] };
  const limit = deps.thresholds.storageUsedPct;
  const used = `${facts.usedPct.toFixed(1)} % used, ${formatBytes(facts.freeBytes)} free, ${facts.fileCountComplete ? '' : 'at least '}${facts.fileCount} files`;
  const state: ProbeState = facts.usedPct > limit ? 'fail' : facts.usedPct > limit - 10 ? 'warn' : 'ok';
  const why = state === 'ok' ? '' : ` (threshold ${limit} %)`;
  return { state, summary: `${used}${why}`, details: [facts.path] };
}

/**
 * The backups there are: the catalog's or, when it holds none or cannot be read (the bot's state lost, or
 * DR_STATE pointing at another file), the repository's own manifests, listed read-only. Status, `backups`
 * and `restore` all answer from here, so none of them says "take a backup" while backups exist.
 */
export async function knownBackups(
  deps: Pick<StatusDeps, 'catalog' | 'repository'>,
  signal: AbortSignal,
  kinds: readonly BackupKind[] = ['db', 'storage', 'config'],
): Promise<{ backups: BackupSummary[]; fromCatalog: boolean }> {
  const ofKinds = (list: BackupSummary[]) => list.filter((b) => kinds.includes(b.kind));
  const catalogued = await deps.catalog?.().then(ofKinds, () => undefined);
  if (catalogued !== undefined && catalogued.length > 0) {
    // The catalog says what was stored; the repository must still be there for it to be restorable.
    await deps.repository.probe?.(signal);
    return { backups: catalogued, fromCatalog: true };
  }
  return { backups: ofKinds(await deps.repository.listBackups(signal)), fromCatalog: false };
}

/** What to say when the catalog is empty but the repository holds backups: where they are, and how to bring the catalog back. */
export function catalogLostAdvice(repositoryLocation: string, backups: readonly BackupSummary[]): string {
  const newest = [...backups].sort((a, b) => b.finishedAt.localeCompare(a.finishedAt))[0];
  return (
    `The bot's catalog is empty, but the repository ${repositoryLocation} holds ${backups.length} backup${backups.length === 1 ? '' : 's'}` +
    `${newest ? ` (newest: ${newest.id}, ${newest.finishedAt})` : ''}: its state is new, or DR_STATE points at another file. ` +
    'Run `dr backups --rebuild` (or `/dr backups --rebuild`) to restore the catalog from the repository, then ask again.'
  );
}

async function judgeBackups(deps: StatusDeps, signal: AbortSignal): Promise<Verdict> {
  const { backups, fromCatalog } = await knownBackups(deps, signal);
  const newest = newestByKind(backups);
  const newestDb = newest.get('db');
  const details = (['db', 'storage', 'config'] as const).map((kind) => {
    const backup = newest.get(kind);
    if (!backup) return `${kind}: none`;
    return `${kind}: ${backup.id}, ${formatAge(deps.now(), backup.finishedAt)} ago, ${formatBytes(backup.sizeBytes)}`;
  });
  details.push(`repository: ${deps.repository.location}${fromCatalog || !deps.catalog ? '' : ' (listed from its manifests: the catalog is empty or unreachable; `dr backups --rebuild` restores it)'}`);
  // Config archives hold the DMS's secrets: unencrypted, they rely on file permissions alone.
  const unencrypted = deps.backupEncryption ? '' : '; ⚠️ config backups are not encrypted (DR_BACKUP_KEY unset), stored mode 0600';
  if (!newestDb) return { state: 'warn', summary: `no backups yet — RPO exposure unknown${unencrypted}`, details };
  const exposureMs = deps.now().getTime() - Date.parse(newestDb.finishedAt);
  const rpo = deps.objectives.rpoMs;
  const state: ProbeState = exposureMs > rpo ? 'fail' : exposureMs > 0.8 * rpo ? 'warn' : unencrypted ? 'warn' : 'ok';
  return { state, summary: `RPO exposure ${formatDuration(exposureMs)} (target ${formatDuration(rpo)})${unencrypted}`, details };
}

// The drill is monthly (runbook §4.2); a few days of slack for a slot that fell on a bad day.
const DRILL_CADENCE_MS = 35 * 24 * 3_600_000;

async function judgeDrills(deps: StatusDeps): Promise<Verdict> {
  const target = deps.objectives.rtoMs;
  // A drill still running has measured nothing yet.
  const drills = (await deps.drills()).filter((run) => run.status !== 'running');
  const rtoOf = (run: Run) => (typeof run.summary.rtoMs === 'number' ? run.summary.rtoMs : undefined);
  const details = drills.slice(0, 3).map((run) => {
    const rto = rtoOf(run);
    return `${run.startedAt.slice(0, 10)}: ${run.status}${run.status === 'succeeded' && rto !== undefined ? `, RTO ${formatDuration(rto)}` : ''}${typeof run.summary.failedStep === 'string' ? ` at "${run.summary.failedStep}"` : ''} (${run.id})`;
  });
  const newest = drills[0];
  if (!newest) return { state: 'warn', summary: `no drill yet — RTO unmeasured (target ${formatDuration(target)})`, details };
  const ago = formatAge(deps.now(), newest.finishedAt ?? newest.startedAt);
  const rto = rtoOf(newest);
  if (newest.status !== 'succeeded') return { state: 'fail', summary: `newest drill ${newest.status} ${ago} ago — RTO not achieved (target ${formatDuration(target)})`, details };
  if (rto === undefined || rto > target) {
    return { state: 'fail', summary: `newest drill ${ago} ago took ${rto === undefined ? 'an unknown time' : formatDuration(rto)}, over the RTO target ${formatDuration(target)}`, details };
  }
  const measured = `RTO ${formatDuration(rto)} (target ${formatDuration(target)})`;
  if (deps.now().getTime() - Date.parse(newest.finishedAt ?? newest.startedAt) > DRILL_CADENCE_MS) {
    return { state: 'warn', summary: `${measured}, but the newest drill is ${ago} old: none in the last 35 days`, details };
  }
  return { state: 'ok', summary: `${measured}, newest drill ${ago} ago`, details };
}

/** Newest verified backup of each kind; unverified ones do not count for recovery. */
export function newestByKind(backups: readonly BackupSummary[]): Map<BackupKind, BackupSummary> {
  const newest = new Map<BackupKind, BackupSummary>();
  for (const backup of backups) {
    if (!backup.verified) continue;
    const current = newest.get(backup.kind);
    if (!current || backup.finishedAt > current.finishedAt) newest.set(backup.kind, backup);
  }
  return newest;
}

function judgePagerDuty(deps: StatusDeps): Verdict {
  return deps.pagerdutyConfigured
    ? { state: 'ok', summary: 'configured: critical alerts page on-call', details: [] }
    : { state: 'warn', summary: 'not configured (PAGERDUTY_ROUTING_KEY unset): critical alerts will not page', details: [] };
}

// Whether new alerts are going out in time, and what was given up on in the last day.
async function judgeOutboxNow(deps: StatusDeps, _signal: AbortSignal): Promise<Verdict> {
  const now = deps.now();
  return judgeOutbox(await deps.outbox!({ deadSince: new Date(now.getTime() - DEAD_RECENT_MS).toISOString() }), now);
}

function formatAge(now: Date, iso: string): string {
  return formatDuration(Math.max(0, now.getTime() - Date.parse(iso)));
}
