// Every action, block and callback id the app uses, so listeners and renderers cannot drift apart.

/** Block ids of the status report. */
export const STATUS_BLOCK = {
  header: 'status_header',
  probe: (id: string) => `status_probe_${id}`,
  footer: 'status_footer',
} as const;

/** Block ids of help and history. */
export const HELP_BLOCK = { list: 'help_list' } as const;
export const HISTORY_BLOCK = { list: 'history_list', verdict: 'history_verdict' } as const;
export const ERROR_BLOCK = { message: 'error_message' } as const;

/** Block ids of backup results and listings. */
export const BACKUP_BLOCK = { result: 'backup_result', list: 'backup_list', violations: 'backup_violations', rebuilt: 'backup_rebuilt', verification: 'backup_verification' } as const;

/** Block id of the in-place progress message of a long command. */
export const PROGRESS_BLOCK = { status: 'progress_status' } as const;

/** Block id of an audit export's summary. */
export const AUDIT_BLOCK = { summary: 'audit_summary' } as const;

/** Block id of a checksum verification's result. */
export const CHECKSUM_BLOCK = { result: 'checksum_result' } as const;
