import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The bot's own Prometheus metrics, on one registry served at GET /metrics. */
export interface BotMetrics {
  registry: Registry;
  commandTotal: Counter<'command' | 'outcome'>;
  ackSeconds: Histogram<'surface'>;
}

/** Where the backup gauges read from at scrape time: the newest verified backup's finish time per kind. */
export type NewestBackups = () => Promise<Partial<Record<'db' | 'storage' | 'config', string>>>;

/** Adds `dr_backup_age_seconds{kind}` and `dr_rpo_exposure_seconds`, read from the catalog at each scrape. */
export function registerBackupGauges(metrics: BotMetrics, newest: NewestBackups): void {
  const read = async () => {
    const times = await newest().catch(() => ({}) as Awaited<ReturnType<NewestBackups>>);
    return Object.entries(times).map(([kind, at]) => ({ kind, ageSeconds: (Date.now() - Date.parse(at!)) / 1000 }));
  };
  new Gauge({
    name: 'dr_backup_age_seconds',
    help: 'Age of the newest verified backup, by kind',
    labelNames: ['kind'],
    registers: [metrics.registry],
    async collect() {
      this.reset();
      for (const { kind, ageSeconds } of await read()) this.set({ kind }, ageSeconds);
    },
  });
  new Gauge({
    name: 'dr_rpo_exposure_seconds',
    help: 'Data that a database loss now would cost: time since the newest verified database backup (+Inf: none yet)',
    registers: [metrics.registry],
    async collect() {
      // No backup at all is unbounded exposure: +Inf makes any `> RPO` alert rule fire.
      this.set((await read()).find((entry) => entry.kind === 'db')?.ageSeconds ?? Number.POSITIVE_INFINITY);
    },
  });
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
