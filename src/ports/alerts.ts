/** An alert as the catalog of DESIGN.md §7 names it. */
export interface AlertEvent {
  alert: 'backup_job_failure' | 'rpo_breach' | 'retention_violation' | 'run_interrupted';
  severity: 'critical' | 'warning';
  summary: string;
  details: Record<string, string>;
}

/** Where alerts go. Until routing, paging and the outbox exist (alerting issue), one channel post per alert. */
export interface AlertSink {
  raise(event: AlertEvent): Promise<void>;
}
