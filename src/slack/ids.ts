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

/** Actions and blocks of a plan behind a confirmation gate (DESIGN.md §5). */
export const GATE_ACTION = { confirm: 'gate_confirm', cancel: 'gate_cancel', approve: 'gate_approve', reject: 'gate_reject', declareIncident: 'gate_declare_incident' } as const;
export const GATE_BLOCK = { summary: 'gate_summary', facts: 'gate_facts', steps: 'gate_steps', state: 'gate_state', actions: 'gate_actions', incidentOffer: 'gate_incident_offer' } as const;

/** The modal where the system name is typed. */
export const GATE_VIEW = { confirm: 'gate_confirm_modal', nameBlock: 'gate_name', nameInput: 'gate_name_input' } as const;

/** Blocks of a run's checklist message. */
export const RUN_BLOCK = { head: 'run_head', steps: 'run_steps', facts: 'run_facts' } as const;

/** Actions and blocks of alert messages. */
export const ALERT_ACTION = { acknowledge: 'alert_acknowledge', declareIncident: 'alert_declare_incident' } as const;
export const ALERT_BLOCK = { summary: 'alert_summary', details: 'alert_details', actions: 'alert_actions', digest: 'alert_digest', truncated: 'alert_truncated', list: 'alert_list' } as const;

/** The recovery checklist's checkboxes (one group per runbook phase). */
export const CHECKLIST_ACTION = { toggle: 'checklist_toggle' } as const;
export const CHECKLIST_BLOCK = { head: 'checklist_head', phase: (phase: string) => `checklist_${phase.toLowerCase().replace(/[^a-z]+/g, '_')}` } as const;
