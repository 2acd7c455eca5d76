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
  let lastPct = -1;
  let drawn = false;
  const line = (u: ProgressUpdate): string => {
    const seconds = Math.max((now() - stepStarted) / 1000, 0.001);
    const rate = u.bytesDone / seconds;
    const total = u.bytesTotal && u.bytesTotal > 0 ? u.bytesTotal : undefined;
    const pct = total ? Math.min(100, Math.floor((u.bytesDone / total) * 100)) : undefined;
    const eta = total && rate > 0 && u.bytesDone < total ? `, ${formatDuration(((total - u.bytesDone) / rate) * 1000)} left` : '';
    const amount = total ? `${formatBytes(u.bytesDone)} of ${formatBytes(total)} (${pct} %)` : formatBytes(u.bytesDone);
    return `dr: ${u.step}: ${amount}${u.bytesDone > 0 ? `, ${formatBytes(rate)}/s` : ''}${eta}`;
  };
  return {
    update(u) {
      const t = now();
      if (u.step !== step) {
        if (drawn && tty) err.write('\n');
        step = u.step;
        stepStarted = t;
        lastPct = -1;
        lastDraw = 0;
        drawn = false;
      }
      if (tty) {
        if (t - lastDraw < REDRAW_MS && drawn) return;
        lastDraw = t;
        drawn = true;
        err.write(`\r\x1b[2K${line(u)}`);
        return;
      }
      const pct = u.bytesTotal ? Math.floor((u.bytesDone / u.bytesTotal) * 100) : undefined;
      const bucket = pct === undefined ? 0 : Math.floor(pct / PLAIN_STEP_PCT) * PLAIN_STEP_PCT;
      if (drawn && bucket <= lastPct) return;
      lastPct = bucket;
      drawn = true;
      err.write(`${line(u)}\n`);
    },
    end() {
      if (tty && drawn) err.write('\n');
      drawn = false;
    },
  };
}
