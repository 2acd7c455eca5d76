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
}

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
