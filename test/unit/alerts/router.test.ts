import { describe, expect, it } from 'vitest';
import { applySignal, type AlertRouting } from '../../../src/alerts/router.ts';
import type { AlertSignal } from '../../../src/domain/alert.ts';

const routing: AlertRouting = { channels: { critical: '#crit', warning: '#warn', security: '#sec' }, paging: true, email: true };
const signal = (severity: 'critical' | 'warning', status: 'firing' | 'resolved' = 'firing'): AlertSignal => ({ fingerprint: 'fp', alert: 'disk_full', severity, status, summary: `${severity} now`, labels: {}, source: 'http' });

describe('applySignal', () => {
  it('fires a new alert: posted in its channel, paged when critical, mailed when a warning', () => {
    expect(applySignal(undefined, signal('critical'), routing, 't0')!.outbox.map((m) => m.target)).toEqual(['slack', 'pagerduty']);
    expect(applySignal(undefined, signal('warning'), routing, 't0')!.outbox.map((m) => m.target)).toEqual(['slack', 'email']);
  });

  it('turns a firing warning critical when it comes back critical: paged, in the critical channel, escalation clock restarted', () => {
    const warning = applySignal(undefined, signal('warning'), routing, 't0')!.record;
    const upgraded = applySignal({ ...warning, escalatedAt: 't1' }, signal('critical'), routing, 't2')!;
    expect(upgraded.record).toMatchObject({ severity: 'critical', state: 'firing', firingSince: 't2' });
    expect(upgraded.record.escalatedAt).toBeUndefined();
    expect(upgraded.outbox).toContainEqual({ target: 'pagerduty', orderKey: 'pagerduty:fp', payload: { kind: 'pagerduty', fingerprint: 'fp', action: 'trigger' } });
    expect(upgraded.outbox.filter((m) => m.target === 'slack').map((m) => (m.payload as { channel: string }).channel)).toEqual(['#crit']);
  });

  it('only refreshes a repeat of a firing alert, and ignores a resolve of an unknown one', () => {
    const fired = applySignal(undefined, signal('critical'), routing, 't0')!.record;
    expect(applySignal(fired, signal('critical'), routing, 't1')!.outbox).toEqual([]);
    expect(applySignal(undefined, signal('critical', 'resolved'), routing, 't1')).toBeUndefined();
  });
});
