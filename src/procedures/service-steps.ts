import { DrError, errorText } from '../domain/errors.ts';
import type { DmsEndpoints } from '../ports/dms.ts';
import type { ServiceCommandResult, ServiceControl } from '../ports/service.ts';
import { componentState } from './status.ts';

/** Runs one configured service command and fails the step, with its output's last line, unless it exited 0. */
export async function runServiceCommand(service: ServiceControl, action: 'stop' | 'start' | 'migrate', signal: AbortSignal): Promise<string> {
  const result = await service.run(action, signal);
  const line = describeServiceResult(result);
  if (result.exitCode !== 0 || result.timedOut) throw new DrError('RESTORE_FAILED', `service.${action} failed: ${line}`);
  return line;
}

/** One line for a step's detail: `exit 0 in 1.2 s`, or why it failed, with the last line it printed. */
export function describeServiceResult(result: ServiceCommandResult): string {
  const lastLine = result.output.split('\n').filter((line) => line.trim()).at(-1)?.slice(0, 200);
  const how = result.timedOut ? `timed out after ${(result.ms / 1000).toFixed(1)} s` : `exit ${result.exitCode ?? 'none'} in ${(result.ms / 1000).toFixed(1)} s`;
  return lastLine ? `${how} — ${lastLine}` : how;
}

/**
 * Polls the DMS health endpoint until it and every component it reports are healthy, or the deadline
 * passes; the step fails with what the endpoint last said.
 */
export async function waitForHealthy(endpoints: DmsEndpoints, deadlineMs: number, signal: AbortSignal, pollMs = 500): Promise<string> {
  const started = Date.now();
  let last = 'no answer yet';
  while (Date.now() - started < deadlineMs) {
    if (signal.aborted) throw signal.reason;
    try {
      const facts = await endpoints.health(AbortSignal.any([signal, AbortSignal.timeout(Math.min(5_000, deadlineMs))]));
      const unhealthy = Object.entries(facts.components).filter(([, c]) => componentState(c.status) !== 'ok').map(([name, c]) => `${name} ${c.status}`);
      const ok = facts.httpStatus >= 200 && facts.httpStatus < 300 && componentState(facts.status) === 'ok' && unhealthy.length === 0;
      last = `HTTP ${facts.httpStatus}, ${facts.status}${unhealthy.length ? `: ${unhealthy.join(', ')}` : ''}`;
      if (ok) return `${last} after ${((Date.now() - started) / 1000).toFixed(1)} s`;
    } catch (error) {
      last = errorText(error);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  throw new DrError('RESTORE_FAILED', `the DMS did not become healthy within ${Math.round(deadlineMs / 1000)} s (last: ${last})`);
}
