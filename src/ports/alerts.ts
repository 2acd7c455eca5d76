/** An alert raised by the bot itself (DESIGN.md §7: failures of backup, verify and drill runs come from the engine). */
export interface AlertEvent {
  alert: 'backup_job_failure' | 'rpo_breach' | 'retention_violation' | 'run_interrupted' | 'security_isolation';
  severity: 'critical' | 'warning';
  summary: string;
  details: Record<string, string>;
  /** What makes two raises the same alert (a job name, a run id): same key, one alert, deduplicated. */
  key: string;
}

/** Where the bot's own alerts go: through the alert state and the durable outbox, like every other alert. */
export interface AlertSink {
  raise(event: AlertEvent): Promise<void>;
  /** The condition is over (the job succeeded again): the alert resolves. */
  resolve(alert: AlertEvent['alert'], key: string): Promise<void>;
}
