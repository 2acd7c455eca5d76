import { describe, expect, it } from 'vitest';
import { applySignal, type AlertRouting } from '../../../src/alerts/router.ts';
import { groupDedupKey, OUTBOX_PRIORITY, type AlertSignal } from '../../../src/domain/alert.ts';
import { shapeOutbox, STORM_THRESHOLD } from '../../../src/alerts/ingest-signals.ts';

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
    expect(upgraded.outbox).toContainEqual({ target: 'pagerduty', orderKey: 'pagerduty:fp', payload: { kind: 'pagerduty', fingerprint: 'fp', action: 'trigger' }, priority: OUTBOX_PRIORITY.trigger });
    expect(upgraded.outbox.filter((m) => m.target === 'slack').map((m) => (m.payload as { channel: string }).channel)).toEqual(['#crit']);
  });

  it('only refreshes a repeat of a firing alert, and ignores a resolve of an unknown one', () => {
    const fired = applySignal(undefined, signal('critical'), routing, 't0')!.record;
    expect(applySignal(fired, signal('critical'), routing, 't1')!.outbox).toEqual([]);
    expect(applySignal(undefined, signal('critical', 'resolved'), routing, 't1')).toBeUndefined();
  });

  it('queues a new alert ahead of changes: its post and page are triggers, its resolve an update', () => {
    const fired = applySignal(undefined, signal('critical'), routing, 't0')!;
    expect(fired.outbox.map((m) => m.priority)).toEqual([OUTBOX_PRIORITY.trigger, OUTBOX_PRIORITY.trigger]);
    const resolved = applySignal(fired.record, signal('critical', 'resolved'), routing, 't1')!;
    expect(resolved.outbox.map((m) => m.priority)).toEqual([OUTBOX_PRIORITY.update, OUTBOX_PRIORITY.update]);
  });

  it("pages an Alertmanager group's alerts under the group's one dedup_key, Alertmanager's SHA-256 of the groupKey", () => {
    const group = '{}/{severity="critical"}:{alertname="disk_full"}';
    const fired = applySignal(undefined, { ...signal('critical'), group }, routing, 't0')!;
    expect(fired.record.group).toBe(group);
    expect(fired.outbox.find((m) => m.target === 'pagerduty')).toEqual({ target: 'pagerduty', orderKey: `pagerduty:${groupDedupKey(group)}`, payload: { kind: 'pagerduty_group', group, action: 'trigger' }, priority: OUTBOX_PRIORITY.trigger });
    expect(groupDedupKey(group)).toMatch(/^[0-9a-f]{64}$/);
    // A resolve without a group (POST /alerts has none) keeps the group the alert was paged under.
    const resolved = applySignal(fired.record, signal('critical', 'resolved'), routing, 't1')!;
    expect(resolved.outbox.find((m) => m.target === 'pagerduty')?.payload).toEqual({ kind: 'pagerduty_group', group, action: 'resolve' });
  });
});

describe('shapeOutbox', () => {
  const change = (fingerprint: string, group?: string) => applySignal(undefined, { ...signal('critical'), fingerprint, ...(group ? { group } : {}) }, routing, 't0')!;

  it("keeps one page per group and action out of a webhook, and turns a storm's first posts into digest messages", () => {
    const storm = Array.from({ length: STORM_THRESHOLD + 1 }, (_, i) => change(`fp${i}`, 'g'));
    const shaped = shapeOutbox(storm).flatMap((c) => c.outbox);
    expect(shaped.filter((m) => m.target === 'pagerduty')).toHaveLength(1);
    expect(shaped.filter((m) => m.target === 'slack').every((m) => m.priority === OUTBOX_PRIORITY.digest)).toBe(true);
    expect(shaped.find((m) => m.target === 'pagerduty')?.priority).toBe(OUTBOX_PRIORITY.trigger);
  });

  it('turns a storm of changes (a whole storm resolving) into digest messages too, its one group resolve kept', () => {
    const resolving = Array.from({ length: STORM_THRESHOLD + 1 }, (_, i) => applySignal(change(`fp${i}`, 'g').record, { ...signal('critical', 'resolved'), fingerprint: `fp${i}` }, routing, 't1')!);
    const shaped = shapeOutbox(resolving).flatMap((c) => c.outbox);
    expect(shaped.filter((m) => m.target === 'slack').map((m) => m.priority)).toEqual(Array.from({ length: STORM_THRESHOLD + 1 }, () => OUTBOX_PRIORITY.digest));
    expect(shaped.filter((m) => m.target === 'pagerduty').map((m) => [m.payload, m.priority])).toEqual([[{ kind: 'pagerduty_group', group: 'g', action: 'resolve' }, OUTBOX_PRIORITY.update]]);
  });

  it('leaves a few new alerts as triggers, each paged on its own when ungrouped', () => {
    const few = Array.from({ length: STORM_THRESHOLD }, (_, i) => change(`fp${i}`));
    const shaped = shapeOutbox(few).flatMap((c) => c.outbox);
    expect(shaped.filter((m) => m.target === 'pagerduty')).toHaveLength(STORM_THRESHOLD);
    expect(shaped.every((m) => m.priority === OUTBOX_PRIORITY.trigger)).toBe(true);
  });
});
