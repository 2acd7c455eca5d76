import { describe, expect, it } from 'vitest';
import { applyRetention, calendarPeriods, retentionViolations, type RetentionPolicy } from '../../../src/backup/retention.ts';

const GFS: RetentionPolicy = { daily: 7, weekly: 4, monthly: 12 };
const at = (iso: string) => ({ id: new Date(iso).toISOString(), finishedAt: iso });
const kept = (decisions: ReturnType<typeof applyRetention>) => Object.fromEntries(decisions.filter((d) => d.keep).map((d) => [d.id, d.reasons]));

/** One backup a day at noon UTC, for `days` days ending on `last`. */
function daily(last: string, days: number) {
  return Array.from({ length: days }, (_, i) => at(new Date(Date.parse(`${last}T12:00:00Z`) - i * 86_400_000).toISOString()));
}

describe('calendarPeriods', () => {
  it.each([
    // ISO week 1 of 2025 starts on Monday 2024-12-30.
    ['2024-12-29T12:00:00Z', 'UTC', '2024-12-29', '2024-W52', '2024-12'],
    ['2024-12-30T12:00:00Z', 'UTC', '2024-12-30', '2025-W01', '2024-12'],
    ['2025-01-02T12:00:00Z', 'UTC', '2025-01-02', '2025-W01', '2025-01'],
    // 2026 begins on a Thursday, so it has 53 ISO weeks; the first days of 2027 still belong to 2026-W53.
    ['2026-12-31T12:00:00Z', 'UTC', '2026-12-31', '2026-W53', '2026-12'],
    ['2027-01-03T12:00:00Z', 'UTC', '2027-01-03', '2026-W53', '2027-01'],
    ['2027-01-04T12:00:00Z', 'UTC', '2027-01-04', '2027-W01', '2027-01'],
    // The zone decides the day: 23:30 UTC is already tomorrow in Berlin, before and after the DST change.
    ['2026-03-28T23:30:00Z', 'Europe/Berlin', '2026-03-29', '2026-W13', '2026-03'],
    ['2026-03-29T22:30:00Z', 'Europe/Berlin', '2026-03-30', '2026-W14', '2026-03'],
    ['2026-03-31T22:30:00Z', 'Europe/Berlin', '2026-04-01', '2026-W14', '2026-04'],
    ['2026-03-31T22:30:00Z', 'America/New_York', '2026-03-31', '2026-W14', '2026-03'],
  ])('%s in %s → %s, %s, %s', (iso, zone, day, week, month) => {
    expect(calendarPeriods(new Date(iso), zone)).toEqual({ daily: day, weekly: week, monthly: month });
  });
});

describe('applyRetention (restic forget --keep-daily/--keep-weekly/--keep-monthly)', () => {
  it('keeps nothing of nothing', () => {
    expect(applyRetention([], GFS, 'UTC')).toEqual([]);
  });

  it('keeps the newest backup of each day, not every backup', () => {
    const decisions = applyRetention([at('2026-11-20T01:00:00Z'), at('2026-11-20T13:00:00Z'), at('2026-11-20T23:00:00Z')], { daily: 1, weekly: 0, monthly: 0 }, 'UTC');
    expect(kept(decisions)).toEqual({ '2026-11-20T23:00:00.000Z': ['daily'] });
  });

  it('keeps 7 daily, 4 weekly and 12 monthly over 400 days of daily backups, each rule on its own', () => {
    const decisions = applyRetention(daily('2026-11-26', 400), GFS, 'UTC');
    const byRule = (rule: string) => decisions.filter((d) => d.reasons.includes(rule as never)).map((d) => d.id.slice(0, 10));
    expect(byRule('daily')).toEqual(['2026-11-26', '2026-11-25', '2026-11-24', '2026-11-23', '2026-11-22', '2026-11-21', '2026-11-20']);
    // Newest of each ISO week: Thursday 26th (W48), then the Sundays ending W47, W46, W45.
    expect(byRule('weekly')).toEqual(['2026-11-26', '2026-11-22', '2026-11-15', '2026-11-08']);
    // Newest of each month: today, then the last day of each of the 11 months before.
    expect(byRule('monthly')).toEqual([
      '2026-11-26', '2026-10-31', '2026-09-30', '2026-08-31', '2026-07-31', '2026-06-30',
      '2026-05-31', '2026-04-30', '2026-03-31', '2026-02-28', '2026-01-31', '2025-12-31',
    ]);
    expect(decisions.filter((d) => d.keep)).toHaveLength(7 + 3 + 11 - 1);
    expect(decisions.some((d) => d.reasons.some((r) => r.startsWith('oldest')))).toBe(false);
  });

  it('skips periods without a backup instead of counting them', () => {
    const decisions = applyRetention([at('2026-11-01T12:00:00Z'), at('2026-11-05T12:00:00Z'), at('2026-11-10T12:00:00Z')], { daily: 2, weekly: 0, monthly: 0 }, 'UTC');
    expect(kept(decisions)).toEqual({ '2026-11-10T12:00:00.000Z': ['daily'], '2026-11-05T12:00:00.000Z': ['daily'] });
  });

  it('counts a week spanning two years (2026-W53: 28 Dec 2026 to 3 Jan 2027) as one week', () => {
    const decisions = applyRetention([at('2026-12-30T12:00:00Z'), at('2027-01-02T12:00:00Z'), at('2027-01-05T12:00:00Z')], { daily: 0, weekly: 2, monthly: 0 }, 'UTC');
    expect(kept(decisions)).toEqual({ '2027-01-05T12:00:00.000Z': ['weekly'], '2027-01-02T12:00:00.000Z': ['weekly'] });
  });

  it('counts ISO week 1 spanning two years (2025-W01: 30 Dec 2024 to 5 Jan 2025) as one week', () => {
    const backups = [at('2024-12-27T12:00:00Z'), at('2024-12-30T12:00:00Z'), at('2025-01-02T12:00:00Z'), at('2025-01-07T12:00:00Z')];
    // W02, then W01 (its newest, 2 January; 30 December is the same week), then 2024-W52.
    expect(kept(applyRetention(backups, { daily: 0, weekly: 3, monthly: 0 }, 'UTC'))).toEqual({
      '2025-01-07T12:00:00.000Z': ['weekly'],
      '2025-01-02T12:00:00.000Z': ['weekly'],
      '2024-12-27T12:00:00.000Z': ['weekly'],
    });
  });

  it('computes days in backups.timezone across a DST change', () => {
    // In UTC these are three days; in Berlin the first two fall on 29 March and the last on 30 March.
    const backups = [at('2026-03-28T23:30:00Z'), at('2026-03-29T09:00:00Z'), at('2026-03-29T22:30:00Z')];
    const policy = { daily: 2, weekly: 0, monthly: 0 };
    expect(Object.keys(kept(applyRetention(backups, policy, 'Europe/Berlin')))).toEqual(['2026-03-29T22:30:00.000Z', '2026-03-29T09:00:00.000Z']);
    expect(Object.keys(kept(applyRetention(backups, policy, 'UTC')))).toEqual(['2026-03-29T22:30:00.000Z', '2026-03-28T23:30:00.000Z']);
  });

  it('ORs the rules: a backup kept only by monthly is kept', () => {
    const decisions = applyRetention([at('2026-09-15T12:00:00Z'), ...daily('2026-11-26', 3)], { daily: 3, weekly: 1, monthly: 3 }, 'UTC');
    expect(decisions.find((d) => d.id.startsWith('2026-09-15'))).toMatchObject({ keep: true, reasons: ['monthly'] });
  });

  it('keeps the oldest backup as well when a rule cannot be filled', () => {
    const decisions = applyRetention(daily('2026-11-26', 3), GFS, 'UTC');
    expect(kept(decisions)).toEqual({
      '2026-11-26T12:00:00.000Z': ['daily', 'weekly', 'monthly'],
      '2026-11-25T12:00:00.000Z': ['daily'],
      '2026-11-24T12:00:00.000Z': ['daily', 'oldest weekly', 'oldest monthly'],
    });
  });

  it('marks the oldest backup "oldest daily" when the daily rule ran out and did not keep it', () => {
    const decisions = applyRetention([at('2026-11-20T01:00:00Z'), at('2026-11-20T13:00:00Z'), at('2026-11-20T23:00:00Z')], { daily: 7, weekly: 0, monthly: 0 }, 'UTC');
    expect(kept(decisions)).toEqual({ '2026-11-20T23:00:00.000Z': ['daily'], '2026-11-20T01:00:00.000Z': ['oldest daily'] });
  });

  it('forgets what no rule keeps', () => {
    const decisions = applyRetention(daily('2026-11-26', 30), { daily: 2, weekly: 0, monthly: 0 }, 'UTC');
    expect(decisions.filter((d) => d.keep)).toHaveLength(2);
    expect(decisions.filter((d) => !d.keep)).toHaveLength(28);
    expect(decisions.find((d) => d.id.startsWith('2026-10-28'))).toEqual({ id: '2026-10-28T12:00:00.000Z', keep: false, reasons: [] });
  });
});

describe('retentionViolations', () => {
  const now = new Date('2026-11-26T18:00:00Z');

  it('is quiet for a healthy history', () => {
    expect(retentionViolations(daily('2026-11-26', 400), GFS, 'UTC', now)).toEqual([]);
  });

  it('says when there are no backups, or none in the last day', () => {
    expect(retentionViolations([], GFS, 'UTC', now)).toEqual(['no backups at all']);
    expect(retentionViolations(daily('2026-11-24', 30), GFS, 'UTC', now)).toEqual(['no backup in the last day']);
  });

  it('names the months that have no backup, within the history and the policy', () => {
    const history = [...daily('2026-11-26', 10), ...daily('2026-09-30', 40), ...daily('2026-06-30', 30)];
    expect(retentionViolations(history, GFS, 'UTC', now)).toEqual(['no monthly backup for 2026-07, 2026-10']);
  });
});
