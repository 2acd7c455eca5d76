import type { Logger } from 'pino';
import { errorText } from '../domain/errors.ts';
import type { AlertSink } from '../ports/alerts.ts';

/** Where a job's backup_job_failure goes, and where a failure to raise it is logged. */
export interface JobAlertDeps {
  alertSink: AlertSink;
  logger: Logger;
}

/**
 * Raises backup_job_failure for a backup, prune, restore-test or drill job that failed, whoever started it
 * (the schedule, `/dr backup`, the CLI). One alert per job name; never throws, a failed raise is logged.
 */
export async function raiseJobFailure(deps: JobAlertDeps, job: string, how: string, error: unknown, details: Record<string, string> = {}): Promise<void> {
  await deps.alertSink
    .raise({ alert: 'backup_job_failure', severity: 'critical', summary: `${how} ${job} failed`, details: { job, reason: errorText(error), ...details }, key: job })
    .catch((raiseError: unknown) => deps.logger.error({ err: errorText(raiseError), job }, 'could not raise the backup_job_failure alert'));
}

/** The job works again: the backup_job_failure it raised earlier resolves. Never throws. */
export async function resolveJobFailure(deps: JobAlertDeps, job: string): Promise<void> {
  await deps.alertSink.resolve('backup_job_failure', job).catch((error: unknown) => deps.logger.error({ err: errorText(error), job }, 'could not resolve the backup_job_failure alert'));
}
