import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The bot's own Prometheus metrics, on one registry served at GET /metrics. */
export interface BotMetrics {
  registry: Registry;
  commandTotal: Counter<'command' | 'outcome'>;
  ackSeconds: Histogram<'surface'>;
  /** Outbox messages given up on by this process, by target (Slack, PagerDuty, e-mail). */
  outboxDead: Counter<'target'>;
}

/** Where the outbox gauges read from at scrape time. */
export type OutboxFigures = () => Promise<Array<{ target: string; pending: number; oldestPendingAt?: string; oldestTriggerAt?: string }>>;

// Every target is always exported (0 when idle), so a rule on it never sees an absent series.
const OUTBOX_TARGETS = ['slack', 'pagerduty', 'email'];

/** Adds `dr_outbox_pending{target}`, `dr_outbox_oldest_pending_seconds{target}` and `dr_outbox_oldest_trigger_seconds{target}`. */
export function registerOutboxGauges(metrics: BotMetrics, figures: OutboxFigures): void {
  // One query per scrape feeds all three gauges: the first collect reads, the others reuse it for this scrape.
  let current: Promise<Awaited<ReturnType<OutboxFigures>>> | undefined;
  const read = () => {
    current ??= figures()
      .catch(() => [])
      .finally(() => setImmediate(() => (current = undefined)));
    return current;
  };
  const gauge = (name: string, help: string, value: (row: Awaited<ReturnType<OutboxFigures>>[number], now: number) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['target'],
      registers: [metrics.registry],
      async collect() {
        const rows = await read();
        const now = Date.now();
        this.reset();
        for (const target of OUTBOX_TARGETS) this.set({ target }, 0);
        for (const row of rows) this.set({ target: row.target }, value(row, now));
      },
    });
  const age = (at: string | undefined, now: number) => (at ? Math.max(0, (now - Date.parse(at)) / 1000) : 0);
  gauge('dr_outbox_pending', 'Notifications waiting in the outbox, by target', (row) => row.pending);
  gauge('dr_outbox_oldest_pending_seconds', 'Age of the oldest notification waiting in the outbox, by target (0: none)', (row, now) => age(row.oldestPendingAt, now));
  gauge('dr_outbox_oldest_trigger_seconds', "Age of the oldest new alert's notification waiting in the outbox, by target (0: none)", (row, now) => age(row.oldestTriggerAt, now));
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
  // Gauges named like counters fail `promtool check metrics`; the per-type gauges without _total carry the same.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  const outboxDead = new Counter({ name: 'dr_outbox_dead_total', help: 'Outbox notifications given up on after repeated permanent failures, by target', labelNames: ['target'], registers: [registry] });
  for (const target of OUTBOX_TARGETS) outboxDead.inc({ target }, 0);
  return {
    outboxDead,
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
