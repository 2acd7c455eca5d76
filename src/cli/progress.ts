import type { ProgressUpdate } from '../commands/types.ts';
import { formatBytes } from '../domain/format.ts';
import { formatDuration } from '../config/duration.ts';

/** How often a TTY line is redrawn, and how coarse the plain lines are. */
const REDRAW_MS = 200;
const PLAIN_STEP_PCT = 10;

/**
 * Progress of a long command on stderr: on a terminal one line redrawn in place (done, rate, time left);
 * otherwise a line when a step starts and at each further 10 %, so logs of a runbook script stay short.
 */
export function progressPrinter(err: NodeJS.WritableStream & { isTTY?: boolean }, now: () => number = Date.now): { update: (u: ProgressUpdate) => void; end: () => void } {
  const tty = Boolean(err.isTTY);
  let step: string | undefined;
  let stepStarted = 0;
  let lastDraw = 0;
  let lastBucket = -1;
  let drawn = false;
  const line = (u: ProgressUpdate, fraction: number | undefined): string => {
    const seconds = Math.max((now() - stepStarted) / 1000, 0.001);
    const rate = u.bytesDone / seconds;
    const total = u.bytesTotal && u.bytesTotal > 0 ? u.bytesTotal : undefined;
    const pct = fraction === undefined ? '' : ` (${Math.floor(fraction * 100)} %)`;
    const amount = total ? `${formatBytes(u.bytesDone)} of ${formatBytes(total)}` : u.bytesDone > 0 ? formatBytes(u.bytesDone) : '';
    const speed = u.bytesDone > 0 ? `, ${formatBytes(rate)}/s` : '';
    const elapsed = now() - stepStarted;
    const eta = fraction !== undefined && fraction > 0 && fraction < 1 && elapsed > 1_000 ? `, ${formatDuration((elapsed / fraction) * (1 - fraction))} left` : '';
    return `dr: ${u.step}${amount || pct ? ': ' : ''}${amount}${pct}${speed}${eta}`;
  };
  return {
    update(u) {
      const t = now();
      const key = stepKey(u.step);
      if (key !== step) {
        if (drawn && tty) err.write('\n');
        step = key;
        stepStarted = t;
        lastBucket = -1;
        lastDraw = 0;
        drawn = false;
      }
      const fraction = fractionOf(u);
      if (tty) {
        if (t - lastDraw < REDRAW_MS && drawn) return;
        lastDraw = t;
        drawn = true;
        err.write(`\r\x1b[2K${line(u, fraction)}`);
        return;
      }
      const bucket = fraction === undefined ? 0 : Math.floor((fraction * 100) / PLAIN_STEP_PCT) * PLAIN_STEP_PCT;
      if (drawn && bucket <= lastBucket) return;
      lastBucket = bucket;
      drawn = true;
      err.write(`${line(u, fraction)}\n`);
    },
    end() {
      if (tty && drawn) err.write('\n');
      drawn = false;
    },
  };
}

// "verify checksums (3 of 50 documents)" is one step whose count moves, not fifty steps.
const MOVING_COUNT = /\s*\((\d+) of (\d+)( [a-z ]+)?\)/;

function stepKey(step: string): string {
  const count = MOVING_COUNT.exec(step);
  return count && !/^step$/.test(step.slice(count.index + 2).split(' ')[0] ?? '') && !count[0].includes('step') ? step.replace(MOVING_COUNT, '') : step;
}

/** How far along a step is: by bytes when the total is known, else by the "k of n" count in its name. */
function fractionOf(u: ProgressUpdate): number | undefined {
  if (u.bytesTotal && u.bytesTotal > 0) return Math.min(1, u.bytesDone / u.bytesTotal);
  const count = MOVING_COUNT.exec(u.step);
  if (!count || count[0].includes('step')) return undefined;
  const [done, total] = [Number(count[1]), Number(count[2])];
  return total > 0 ? Math.min(1, done / total) : undefined;
}
