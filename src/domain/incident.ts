/** An incident (DESIGN.md §8): one stakeholder thread that receives every update, run summary and escalation. */
export interface Incident {
  id: string;
  title: string;
  /** A security incident also goes to the security channel's people (declared by `isolate`, or by hand). */
  kind: 'operational' | 'security';
  state: 'open' | 'resolved';
  declaredAt: string;
  declaredBy: string;
  resolvedAt?: string;
  resolvedBy?: string;
  /** The stakeholder channel its parent message lives in. */
  channel: string;
  /** Recovery checklist items done (runbook §7): who ticked each (a user, or `dr-bot` for its own steps) and when. */
  checklist?: Record<string, { by: string; at: string }>;
  /** Where `/dr checklist` showed the checklist, so ticks by the bot edit it in place. */
  checklistMessage?: { channel: string; ts: string };
}

/** The recovery checklist of runbook §7: stable ids, the phase, and the wording. */
export const RECOVERY_CHECKLIST = [
  { id: 'scope', phase: 'Pre-recovery', text: 'Identify incident scope' },
  { id: 'notify', phase: 'Pre-recovery', text: 'Notify stakeholders' },
  { id: 'evidence', phase: 'Pre-recovery', text: 'Preserve evidence (if security incident)' },
  { id: 'recovery_point', phase: 'Pre-recovery', text: 'Identify recovery point (which backup)' },
  { id: 'stop_services', phase: 'During recovery', text: 'Stop affected services' },
  { id: 'restore_db', phase: 'During recovery', text: 'Restore database' },
  { id: 'restore_storage', phase: 'During recovery', text: 'Restore document storage' },
  { id: 'restore_config', phase: 'During recovery', text: 'Restore configuration' },
  { id: 'migrations', phase: 'During recovery', text: 'Run database migrations' },
  { id: 'verify_integrity', phase: 'During recovery', text: 'Verify data integrity' },
  { id: 'services_ok', phase: 'Post-recovery', text: 'Verify all services operational' },
  { id: 'smoke_tests', phase: 'Post-recovery', text: 'Run smoke tests' },
  { id: 'audit_integrity', phase: 'Post-recovery', text: 'Check audit log integrity' },
  { id: 'monitor', phase: 'Post-recovery', text: 'Monitor for issues (1 hour)' },
  { id: 'document', phase: 'Post-recovery', text: 'Document incident' },
  { id: 'postmortem', phase: 'Post-recovery', text: 'Conduct post-mortem' },
] as const;

/** A checklist item's id. */
export type ChecklistItemId = (typeof RECOVERY_CHECKLIST)[number]['id'];

/** What the bot's own successful runs tick (the steps it did itself). */
export const TICKED_BY_PROCEDURE: Record<string, readonly ChecklistItemId[]> = {
  'restore-db': ['recovery_point', 'stop_services', 'restore_db', 'verify_integrity', 'services_ok'],
  'restore-storage': ['recovery_point', 'restore_storage', 'verify_integrity'],
  'restore-all': ['recovery_point', 'stop_services', 'restore_db', 'restore_storage', 'restore_config', 'migrations', 'verify_integrity', 'services_ok'],
  'restore-undo': ['stop_services', 'services_ok'],
  isolate: ['evidence', 'notify'],
  'rotate-secrets': ['services_ok'],
};

/** The post-recovery checklist of runbook §7, posted when an incident is resolved. */
export const POST_RECOVERY_CHECKLIST = [
  'Verify all services operational',
  'Run smoke tests',
  'Check audit log integrity (`/dr history --verify`)',
  'Monitor for issues (1 hour)',
  'Document incident',
  'Conduct post-mortem',
] as const;

/** Whom each stakeholder notice is for. */
export type NoticeAudience = 'security' | 'legal' | 'tenants';
