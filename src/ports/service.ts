/** What one service command did: its exit, how long it took, and the tail of what it printed. */
export interface ServiceCommandResult {
  command: string;
  exitCode: number | null;
  /** Set when the command was killed for running past its timeout. */
  timedOut: boolean;
  ms: number;
  /** Combined stdout and stderr, the last few kilobytes. */
  output: string;
}

/** The DMS service's own controls, as configured in `service.*` (the operator's shell commands). */
export interface ServiceControl {
  run(action: 'stop' | 'start' | 'migrate' | 'logs', signal?: AbortSignal): Promise<ServiceCommandResult>;
  /** Runs one arbitrary configured command (the `service.isolate` list). */
  runCommand(command: string, signal?: AbortSignal): Promise<ServiceCommandResult>;
  /** Runs a configured action with all of its output written to `file` (mode 0600): evidence, not a tail. */
  runToFile(action: 'logs', file: string, signal?: AbortSignal): Promise<ServiceCommandResult>;
}
