// A DatabaseRestorer and a ServiceControl that record what the procedures asked, in order, for tests about
// what happens before and after the service stops. Real adapters are tested against real SQLite and PostgreSQL.
import type { DatabaseInspection, DatabaseRef, DatabaseRestorer, DmsEndpoints, SwapOptions } from '../../src/ports/dms.ts';
import type { ServiceCommandResult, ServiceControl } from '../../src/ports/service.ts';

/** One shared log of calls, so the order across restorer and service can be asserted. */
export type CallLog = string[];

/** A restorer over named in-memory databases; `inspections` and `swapProblem` script what it finds. */
export class RecordingRestorer implements DatabaseRestorer {
  readonly engine = 'sqlite' as const;
  /** What inspect answers per database name (default: ok, 10/2/1). */
  readonly inspections = new Map<string, DatabaseInspection>();
  /** When set, checkSwap and swapIn fail with it (a kept name taken, the replacement held open). */
  swapProblem: string | undefined;
  constructor(readonly calls: CallLog) {}

  async restoreToScratch(_dumpFile: string, label: string): Promise<DatabaseRef> {
    this.calls.push(`restoreToScratch ${label}`);
    return this.scratchFor(label);
  }
  async inspect(target: DatabaseRef): Promise<DatabaseInspection> {
    this.calls.push(`inspect ${target.name}`);
    return this.inspections.get(target.name) ?? { integrity: 'ok', counts: { documents: 10, users: 2, tenants: 1 } };
  }
  async checkSwap(replacement: DatabaseRef, _label: string, options: SwapOptions = {}): Promise<void> {
    this.calls.push(`checkSwap ${replacement.name}${options.asIs ? ' asIs' : ''}`);
    if (this.swapProblem) throw new Error(this.swapProblem);
  }
  async swapIn(replacement: DatabaseRef, label: string, options: SwapOptions = {}): Promise<DatabaseRef | undefined> {
    this.calls.push(`swapIn ${replacement.name}${options.asIs ? ' asIs' : ''}`);
    if (this.swapProblem) throw new Error(this.swapProblem);
    return ref(`live.pre-${label}`);
  }
  async drop(target: DatabaseRef): Promise<void> {
    this.calls.push(`drop ${target.name}`);
  }
  scratchFor(label: string): DatabaseRef {
    return ref(`live.restore-${label}`);
  }
}

/** Service commands that succeed at once and are logged. */
export function recordingService(calls: CallLog): ServiceControl {
  const result = (command: string): ServiceCommandResult => ({ command, exitCode: 0, timedOut: false, ms: 1, output: '' });
  return {
    run: async (action) => (calls.push(`service ${action}`), result(action)),
    runCommand: async (command) => (calls.push(`command ${command}`), result(command)),
    runToFile: async (action) => (calls.push(`service ${action} to file`), result(action)),
  };
}

/** A DMS whose health endpoint always answers healthy. */
export const HEALTHY_ENDPOINTS: DmsEndpoints = {
  health: async () => ({ httpStatus: 200, status: 'healthy', components: {} }),
  metrics: async () => ({ httpStatus: 200, samples: 1 }),
  scrape: async () => '',
};

function ref(name: string): DatabaseRef {
  return { engine: 'sqlite', name, location: `sqlite:${name}` };
}
