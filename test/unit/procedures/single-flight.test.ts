import { describe, expect, it } from 'vitest';
import { singleFlight } from '../../../src/procedures/single-flight.ts';
import { createWorkQueue } from '../../../src/slack/work-queue.ts';

describe('singleFlight', () => {
  it('shares one run between callers that overlap, and starts a fresh one afterwards', async () => {
    let runs = 0;
    const shared = singleFlight(async () => {
      runs += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { run: runs };
    });
    const [a, b, c] = await Promise.all([shared(), shared(), shared()]);
    expect(runs).toBe(1);
    expect(a).toBe(b);
    expect(b).toBe(c);
    expect(await shared()).toEqual({ run: 2 });
  });

  it('lets a failure reach every waiting caller, then runs again', async () => {
    let runs = 0;
    const shared = singleFlight(async () => {
      runs += 1;
      if (runs === 1) throw new Error('probe exploded');
      return 'ok';
    });
    await expect(Promise.all([shared(), shared()])).rejects.toThrow('probe exploded');
    expect(await shared()).toBe('ok');
  });
});

describe('createWorkQueue', () => {
  it('never runs more than the limit at once and keeps arrival order', async () => {
    const queue = createWorkQueue(2);
    let active = 0;
    let peak = 0;
    const started: number[] = [];
    const job = (n: number) => async () => {
      started.push(n);
      active += 1;
      peak = Math.max(peak, active);
      await new Promise((resolve) => setTimeout(resolve, 5));
      active -= 1;
      return n;
    };
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => queue.run(job(n))));
    expect(results).toEqual([1, 2, 3, 4, 5]);
    expect(peak).toBe(2);
    expect(started).toEqual([1, 2, 3, 4, 5]);
    expect(queue.pending()).toBe(0);
  });

  it('frees the slot when a job fails', async () => {
    const queue = createWorkQueue(1);
    await expect(queue.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await queue.run(async () => 'next')).toBe('next');
  });
});
