/** How a run ended, or that it is still going (DESIGN.md §6). */
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'interrupted';

/** Where one step of a run is. */
export type StepStatus = 'pending' | 'running' | 'done' | 'failed' | 'skipped';

/** One step of a run, as persisted after every change. */
export interface StepRecord {
  name: string;
  status: StepStatus;
  startedAt?: string;
  finishedAt?: string;
  /** What it found or did, in one line (counts, output tail, the reason it failed). */
  detail?: string;
  /** Done, but what it found must not pass for good (a database brought back that fails its check): shown ⚠️, never ✅. */
  warning?: boolean;
}

/** A procedure's execution, persisted so a crash can never hide it. */
export interface Run {
  id: string;
  procedure: string;
  gateId?: string;
  actor: string;
  status: RunStatus;
  startedAt: string;
  finishedAt?: string;
  /** Refreshed while the run is alive; a stale one on PostgreSQL means its replica died. */
  heartbeatAt: string;
  /** Which process runs it. */
  owner: string;
  steps: StepRecord[];
  /** Where the checklist is shown in Slack. */
  channel?: string;
  messageTs?: string;
  /** Figures of the result: duration, data-loss window, counts, what was kept for undo. */
  summary: Record<string, unknown>;
}

/** The last step that finished, for the "interrupted after …" report. */
export function lastFinishedStep(run: Run): string | undefined {
  return run.steps.filter((step) => step.status === 'done').at(-1)?.name;
}
