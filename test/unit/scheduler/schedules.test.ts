import { describe, expect, it } from 'vitest';
import { startSchedules } from '../../../src/scheduler/schedules.ts';
import { captureLogs } from '../../helpers/logs.ts';
import { useTempStateStore } from '../../helpers/temp-store.ts';

describe('startSchedules', () => {
  const temp = useTempStateStore('dr-schedules');

  it('never runs a job twice at once: a slow run makes the next slots skip, and stop() waits for it', async () => {
    let running = 0;
    let mostAtOnce = 0;
    let runs = 0;
    const { logger } = captureLogs('silent');
    // Every second, but each run takes 2.2 s.
    const slow = async () => {
      running += 1;
      runs += 1;
      mostAtOnce = Math.max(mostAtOnce, running);
      await new Promise((resolve) => setTimeout(resolve, 2_200));
      running -= 1;
    };
    const schedules = startSchedules([{ name: 'slow', expression: '* * * * * *', run: slow }], { store: temp.store, owner: 'me', timezone: 'UTC', logger, onFailure: () => {} });
    // Started outside the cron slots too, as the start-up catch-up is.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const now = schedules.runNow('slow', 'slow:catch-up:1');
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    await schedules.stop();
    await now;
    expect(running).toBe(0);
    expect(mostAtOnce).toBe(1);
    // 3.8 s of slots, each run 2.2 s: at most two runs fit one after the other.
    expect(runs).toBeGreaterThanOrEqual(1);
    expect(runs).toBeLessThanOrEqual(2);
  });
});
