import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLull } from '../../../src/slack/lull.ts';

// The subject on the fake clock: quiet after 20 ms, never held longer than 1 s.
function lullOnFakeClock() {
  return createLull({ quietMs: 20, maxWaitMs: 1_000, now: () => Date.now() });
}

// Tracks when each waiter was released, in fake milliseconds since the test began.
function released(promise: Promise<void>, start: number): { at: number | undefined } {
  const seen: { at: number | undefined } = { at: undefined };
  void promise.then(() => (seen.at = Date.now() - start));
  return seen;
}

describe('createLull', () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());

  it('lets work start at once when no command arrived lately', async () => {
    const lull = lullOnFakeClock();
    const start = Date.now();
    const waiter = released(lull.settled(), start);
    await vi.advanceTimersByTimeAsync(0);
    expect(waiter.at).toBe(0);
  });

  it('holds a lone command’s work only for the quiet period', async () => {
    const lull = lullOnFakeClock();
    const start = Date.now();
    lull.arrived();
    const waiter = released(lull.settled(), start);
    await vi.advanceTimersByTimeAsync(19);
    expect(waiter.at).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(waiter.at).toBe(20);
    expect(lull.waiting()).toBe(0);
  });

  it('holds every waiter of a burst until it pauses, then releases them together', async () => {
    const lull = lullOnFakeClock();
    const start = Date.now();
    const waiters = [];
    for (let i = 0; i < 30; i += 1) {
      lull.arrived();
      waiters.push(released(lull.settled(), start));
      await vi.advanceTimersByTimeAsync(10);
    }
    expect(waiters.every((w) => w.at === undefined)).toBe(true);
    expect(lull.waiting()).toBe(30);
    // The last arrival was at 290 ms; the pause is complete at 310 ms.
    await vi.advanceTimersByTimeAsync(20);
    expect(new Set(waiters.map((w) => w.at))).toEqual(new Set([310]));
  });

  it('never holds work longer than maxWaitMs, however long the stream of commands lasts', async () => {
    const lull = lullOnFakeClock();
    const start = Date.now();
    const streamUntil = start + 2_000;
    let first: { at: number | undefined } | undefined;
    let second: { at: number | undefined } | undefined;
    while (Date.now() < streamUntil) {
      lull.arrived();
      if (Date.now() - start === 0) first = released(lull.settled(), start);
      if (Date.now() - start === 500) second = released(lull.settled(), start);
      await vi.advanceTimersByTimeAsync(5);
    }
    if (!first || !second) throw new Error('waiters not started');
    expect(first.at).toBe(1_000);
    expect(second.at).toBe(1_500);
  });
});
