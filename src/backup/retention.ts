/** How many of each calendar period to keep (restic's --keep-daily/--keep-weekly/--keep-monthly). */
export interface RetentionPolicy {
  daily: number;
  weekly: number;
  monthly: number;
}

/** What retention needs to know of a backup. */
export interface RetainedCandidate {
  id: string;
  finishedAt: string;
}

/** Why a backup is kept: the rules that chose it, e.g. `daily`, `weekly`, or `oldest monthly`. */
export type RetentionReason = 'daily' | 'weekly' | 'monthly' | 'oldest daily' | 'oldest weekly' | 'oldest monthly';

/** The verdict for one backup. */
export interface RetentionDecision {
  id: string;
  keep: boolean;
  reasons: RetentionReason[];
}

type Rule = 'daily' | 'weekly' | 'monthly';
const RULES: readonly Rule[] = ['daily', 'weekly', 'monthly'];

/** A backup's calendar day, ISO week and month, in the policy's time zone. */
export interface CalendarPeriods {
  daily: string;
  weekly: string;
  monthly: string;
}

/** Periods of an instant in `timeZone`: `2027-01-02`, `2026-W53`, `2027-01`. ISO weeks start on Monday; week 1 holds the year's first Thursday. */
export function calendarPeriods(instant: Date, timeZone: string): CalendarPeriods {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })
      .formatToParts(instant)
      .map((p) => [p.type, p.value]),
  ) as Record<string, string>;
  const year = Number(parts.year);
  const month = Number(parts.month);
  const day = Number(parts.day);
  // ISO week from the local calendar date, with UTC arithmetic so no further zone rules interfere.
  const date = new Date(Date.UTC(year, month - 1, day));
  const weekday = date.getUTCDay() || 7;
  date.setUTCDate(date.getUTCDate() + 4 - weekday);
  const isoYear = date.getUTCFullYear();
  const week = Math.ceil(((date.getTime() - Date.UTC(isoYear, 0, 1)) / 86_400_000 + 1) / 7);
  const pad = (n: number) => String(n).padStart(2, '0');
  return { daily: `${year}-${pad(month)}-${pad(day)}`, weekly: `${isoYear}-W${pad(week)}`, monthly: `${year}-${pad(month)}` };
}

/**
 * restic's forget policy: walking from newest to oldest, each rule keeps the newest backup of each of its
 * next N calendar periods that has a backup (empty periods are skipped, not counted); the rules are
 * independent and a backup is kept if any rule keeps it. When a rule runs out of backups before
 * filling N periods, the oldest backup is kept as well ("oldest <rule>").
 */
export function applyRetention(backups: readonly RetainedCandidate[], policy: RetentionPolicy, timeZone: string): RetentionDecision[] {
  const newestFirst = [...backups].sort((a, b) => Date.parse(b.finishedAt) - Date.parse(a.finishedAt) || (a.id < b.id ? 1 : -1));
  const remaining: Record<Rule, number> = { ...policy };
  const lastPeriod: Record<Rule, string | undefined> = { daily: undefined, weekly: undefined, monthly: undefined };
  const decisions = newestFirst.map((backup): RetentionDecision => {
    const periods = calendarPeriods(new Date(backup.finishedAt), timeZone);
    const reasons: RetentionReason[] = [];
    for (const rule of RULES) {
      if (remaining[rule] > 0 && periods[rule] !== lastPeriod[rule]) {
        reasons.push(rule);
        lastPeriod[rule] = periods[rule];
        remaining[rule] -= 1;
      }
    }
    return { id: backup.id, keep: reasons.length > 0, reasons };
  });
  const oldest = decisions.at(-1);
  if (oldest) {
    for (const rule of RULES) {
      if (policy[rule] > 0 && remaining[rule] > 0 && !oldest.reasons.includes(rule)) {
        oldest.reasons.push(`oldest ${rule}`);
        oldest.keep = true;
      }
    }
  }
  return decisions;
}

/** Ways the catalog falls short of the policy, in words an operator can act on (the `retention_violation` alert). */
export function retentionViolations(
  backups: readonly RetainedCandidate[],
  policy: RetentionPolicy,
  timeZone: string,
  now: Date,
): string[] {
  if (backups.length === 0) return ['no backups at all'];
  const violations: string[] = [];
  const newest = Math.max(...backups.map((b) => Date.parse(b.finishedAt)));
  if (now.getTime() - newest > 86_400_000) violations.push('no backup in the last day');
  const oldest = Math.min(...backups.map((b) => Date.parse(b.finishedAt)));
  const have = new Set(backups.map((b) => calendarPeriods(new Date(b.finishedAt), timeZone).monthly));
  // Months the history spans, newest first, up to the number the policy keeps; the current month may still be filling.
  const months: string[] = [];
  for (let cursor = new Date(now); months.length < policy.monthly && cursor.getTime() >= oldest - 31 * 86_400_000; cursor = new Date(Date.UTC(cursor.getUTCFullYear(), cursor.getUTCMonth() - 1, 15))) {
    const month = calendarPeriods(cursor, timeZone).monthly;
    if (month < calendarPeriods(new Date(oldest), timeZone).monthly) break;
    months.push(month);
  }
  const missing = months.slice(1).filter((m) => !have.has(m));
  if (missing.length > 0) violations.push(`no monthly backup for ${missing.reverse().join(', ')}`);
  return violations;
}
