/** ✅ / ⚠️ / ❌ */
export type ProbeState = 'ok' | 'warn' | 'fail';

/** One line of the status report. */
export interface ProbeResult {
  id: 'database' | 'health' | 'metrics' | 'storage' | 'backups' | 'drills' | 'pagerduty' | 'outbox';
  title: string;
  state: ProbeState;
  /** One sentence: what was found, or why it failed. */
  summary: string;
  /** Further facts, one per line. */
  details: string[];
  ms: number;
}

/** The whole `/dr status` answer. */
export interface StatusReport {
  system: string;
  at: string;
  overall: ProbeState;
  probes: ProbeResult[];
}

/** The worst of several states. */
export function worstState(states: readonly ProbeState[]): ProbeState {
  if (states.includes('fail')) return 'fail';
  if (states.includes('warn')) return 'warn';
  return 'ok';
}

/** The emoji Slack and the terminal show for a state. */
export const STATE_EMOJI: Record<ProbeState, string> = { ok: '✅', warn: '⚠️', fail: '❌' };

/** How the whole system is described for each overall state. */
export const STATE_HEADLINE: Record<ProbeState, string> = { ok: 'healthy', warn: 'degraded', fail: 'failing' };
