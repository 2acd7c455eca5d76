import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** The bot's own Prometheus metrics, on one registry served at GET /metrics. */
export interface BotMetrics {
  registry: Registry;
  commandTotal: Counter<'command' | 'outcome'>;
  ackSeconds: Histogram<'surface'>;
}

/** Creates the registry with process metrics, command counts and the Slack ack-latency histogram. */
export function createMetrics(): BotMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    commandTotal: new Counter({
      name: 'dr_command_total',
      help: '/dr commands handled, by command and outcome',
      labelNames: ['command', 'outcome'],
      registers: [registry],
    }),
    ackSeconds: new Histogram({
      name: 'dr_ack_latency_seconds',
      help: 'Time from receiving a Slack request to acknowledging it',
      labelNames: ['surface'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3],
      registers: [registry],
    }),
  };
}
