import type { Logger } from 'pino';
import type { DispatchDeps } from '../commands/dispatch.ts';
import type { AlertRecord } from '../domain/alert.ts';
import { errorText } from '../domain/errors.ts';
import { takeInSignals, type AlertIntakeDeps } from './ingest-signals.ts';
import { ProbeMemory, runProbeCycle, type ProbeAlert, type ProbeCycleDeps } from './probes.ts';

/** What the probe schedule needs: the probes, where their signals go, and where to log. */
export interface ProbeScheduleDeps {
  probes: ProbeCycleDeps;
  intake: AlertIntakeDeps;
  logger: Pick<Logger, 'info' | 'warn'>;
}

/** A running probe schedule. */
export interface ProbeSchedule {
  /** One probe cycle now, its signals taken in; resolves with the alerts that changed (a firing one seen again too). Cycles never overlap. */
  runOnce(): Promise<AlertRecord[]>;
  /** No further cycles; waits for the one in progress. */
  stop(): Promise<void>;
}

/** The probe cycle's dependencies, from the composed ones: the `/dr status` ports, the catalog, `alerts.*` and the alert intake. */
export function probeScheduleDeps(
  deps: Pick<DispatchDeps, 'config' | 'status' | 'store' | 'alertIntake' | 'logger'>,
  overrides: Partial<ProbeCycleDeps> = {},
): ProbeScheduleDeps {
  const { config, status } = deps;
  const { thresholds, metrics } = config.alerts;
  const logger = deps.logger.child({ component: 'probes' });
  // One line when an alert stops being judged (and why), not one a minute while it stays so.
  const lastReason = new Map<ProbeAlert, string>();
  const probes: ProbeCycleDeps = {
    systemName: config.system.name,
    database: status.database,
    storage: status.storage,
    endpoints: status.endpoints,
    catalog: deps.store,
    thresholds: {
      storageUsedPct: thresholds.storage_used_pct,
      apiErrorRatePct: thresholds.api_error_rate_pct,
      latencyP95S: thresholds.latency_p95_s,
      failedLogins10m: thresholds.failed_logins_10m,
    },
    metricNames: {
      requestsTotal: metrics.requests_total,
      statusLabel: metrics.status_label,
      latencyHistogram: metrics.latency_histogram,
      failedLoginsTotal: metrics.failed_logins_total,
    },
    rpoMs: config.objectives.rpo,
    retention: config.backups.retention,
    timeZone: config.backups.timezone,
    probeTimeoutMs: config.probes.timeout,
    now: () => new Date(),
    memory: new ProbeMemory(),
    onNoVerdict: (alert, reason, routine) => {
      if (lastReason.get(alert) === reason) return;
      lastReason.set(alert, reason);
      if (routine) logger.info({ alert, reason }, 'probe alert not judged this cycle');
      else logger.warn({ alert, reason }, 'probe alert cannot be judged');
    },
    ...overrides,
  };
  return { probes, intake: deps.alertIntake, logger };
}

/**
 * Runs a probe cycle every `intervalMs` and takes its signals in (state, routing, outbox). The first cycle
 * comes one interval after the start, not at once: a DMS started together with the bot gets that minute
 * before it can page anyone. Replicas may each run one: a repeated signal changes nothing.
 */
export function startProbeCycle(deps: ProbeScheduleDeps, intervalMs = 60_000): ProbeSchedule {
  let running: Promise<AlertRecord[]> | undefined;
  let stopped = false;
  const cycle = async (): Promise<AlertRecord[]> => {
    const signals = await runProbeCycle(deps.probes);
    const changed = await takeInSignals(deps.intake, signals);
    for (const alert of changed) {
      // Logged when it fires or resolves, not each minute it is seen firing again.
      if (alert.state === 'resolved' || alert.firingSince === alert.lastFiredAt) {
        deps.logger.info({ alert: alert.alert, state: alert.state, severity: alert.severity, summary: alert.summary }, 'probe alert changed');
      }
    }
    return changed;
  };
  const runOnce = (): Promise<AlertRecord[]> => {
    // A cycle asked for while one runs waits for it, then runs: two never interleave their scrapes.
    const next = (running ?? Promise.resolve([])).catch(() => []).then(cycle);
    const tracked = next.finally(() => {
      if (running === tracked) running = undefined;
    });
    running = tracked;
    return tracked;
  };
  const timer = setInterval(() => {
    // A cycle still running (every probe at its deadline) is not queued behind: the next tick comes soon enough.
    if (stopped || running) return;
    runOnce().catch((error: unknown) => deps.logger.warn({ err: errorText(error) }, 'probe cycle failed'));
  }, intervalMs);
  timer.unref();
  return {
    runOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => []);
    },
  };
}
