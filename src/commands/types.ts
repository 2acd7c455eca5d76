import type { Logger } from 'pino';
import type { Config } from '../config/load.ts';
import { DrError } from '../domain/errors.ts';
import type { AuditEntry, AuditSource, ChainVerdict } from '../domain/audit.ts';
import type { StatusReport } from '../domain/status.ts';
import type { BackupManifest } from '../backup/manifest.ts';
import type { RetentionReason } from '../backup/retention.ts';
import type { BackupKind } from '../ports/backup-repository.ts';
import type { CatalogRebuild, RepositoryVerification } from '../procedures/verify-backups.ts';
import type { PruneResult } from '../procedures/prune-backups.ts';
import type { StateStore } from '../ports/state-store.ts';
import type { AuditLedger } from '../ports/dms.ts';
import type { ChecksumReport } from '../procedures/verify-checksums.ts';
import type { StatusDeps } from '../procedures/status.ts';
import type { EngineDeps } from '../procedures/engine.ts';
import type { GateDeps } from '../gates/gates.ts';
import type { RoleDirectory } from '../gates/roles.ts';
import type { AlertIntakeDeps } from '../alerts/ingest-signals.ts';
import type { WakeSignal } from '../alerts/sink.ts';
import type { AlertSink } from '../ports/alerts.ts';
import type { GatedProcedures } from '../gates/gated-procedures.ts';
import type { Gate } from '../domain/gate.ts';
import type { AlertRecord } from '../domain/alert.ts';
import type { Incident } from '../domain/incident.ts';
import type { IncidentDeps } from '../procedures/incidents.ts';
import type { Run } from '../domain/run.ts';
import type { StateHealth } from '../alerts/state-health.ts';

/** read: anyone may run it; operate: changes nothing live; destructive: behind a confirmation gate (DESIGN.md §4). */
export type Risk = 'read' | 'operate' | 'destructive';

/** How far a long command has got: shown in place (Slack) so nobody wonders whether it hung. */
export interface ProgressUpdate {
  /** What is running now, e.g. `storage snapshot`. */
  step: string;
  bytesDone: number;
  bytesTotal?: number;
}

/** Who typed what, where; and, for long commands, where to report progress. */
export interface Invocation {
  source: AuditSource;
  actor: string;
  channel: string;
  text: string;
  progress?: (update: ProgressUpdate) => void;
}

/** Everything a command's `run` may use: the procedures' ports, already built. */
export interface CommandDeps {
  config: Config;
  store: StateStore;
  status: StatusDeps;
  /** The status report, shared by everyone who asks while one is being collected. */
  currentStatus: () => Promise<StatusReport>;
  /** Takes a database backup now. */
  backupDatabase: (progress?: (update: ProgressUpdate) => void) => Promise<BackupManifest>;
  /** Takes a document snapshot now. */
  backupStorage: (progress?: (update: ProgressUpdate) => void) => Promise<BackupManifest>;
  /** Archives the DMS configuration now. */
  backupConfig: (progress?: (update: ProgressUpdate) => void) => Promise<BackupManifest>;
  /** Re-reads stored backups against their manifests, marking damaged ones unverified. */
  verifyBackups: (kind?: BackupKind) => Promise<RepositoryVerification>;
  /** Re-creates the catalog from the repository's manifests; returns how many backups it holds. */
  rebuildCatalog: () => Promise<CatalogRebuild>;
  /** The DMS's own audit ledger. */
  auditLedger: AuditLedger;
  /** Hashes every document and compares it with the database. */
  verifyChecksums: (progress?: (update: ProgressUpdate) => void) => Promise<ChecksumReport>;
  /** Restores a database backup (`latest`: the newest verified) into a scratch database and compares counts (runbook §4.1); `actor` defaults to the scheduler. */
  verifyBackup: (choice: string, progress?: (update: ProgressUpdate) => void, actor?: string) => Promise<Run>;
  /** Recovers the newest verified backups into scratch targets and measures the RTO (runbook §4.2). */
  drill: (progress?: (update: ProgressUpdate) => void, actor?: string) => Promise<Run>;
  /** Applies retention and sweeps unreferenced document objects. */
  pruneBackups: () => Promise<PruneResult>;
  /** Plans destructive procedures and builds the runs of confirmed plans. */
  gated: GatedProcedures;
  /** The confirmation gates' state machine. */
  gates: GateDeps;
  /** Who holds which role (user ids, or members of user groups once Slack can be asked). */
  roles: RoleDirectory;
  /** Takes alerts in: state, routing, outbox (DESIGN.md §7). */
  alertIntake: AlertIntakeDeps;
  /** The bot's own alerts (backup_job_failure, run_interrupted) into the same path. */
  alertSink: AlertSink;
  /** Where what cannot be shown to the user (a failed alert raise) is reported. */
  logger: Logger;
  /** Fired when notifications were queued: the outbox worker listens. */
  outboxWake: WakeSignal;
  /** Incidents and their stakeholder thread. */
  incidents: IncidentDeps;
  /** Runs procedures step by step, persisted. */
  engine: EngineDeps;
  /** The state store's health as the monitor last saw it (a running bot only): destructive commands are refused while it is broken. */
  stateHealth?: () => StateHealth;
  /** Removes what an interrupted run left behind (its scratch database): lines saying what was done, and whether it may still be there. */
  removeRunLeftovers: (run: Run) => Promise<{ said: string[]; pending: boolean }>;
}

/** One row of `/dr backups`: a catalogued backup and the retention rules that keep it. */
export interface BackupRow {
  id: string;
  kind: BackupKind;
  finishedAt: string;
  sizeBytes: number;
  verified: boolean;
  keptBy: RetentionReason[];
}

/** A kind of `backup all` that failed while the others ran: which, and the user-safe reason. */
export interface FailedBackup {
  kind: BackupKind;
  code: string;
  message: string;
}

/** One line of `/dr help`. */
export interface HelpEntry {
  usage: string;
  summary: string;
  risk: Risk;
  built: boolean;
}

/** What a command produced; each surface (Slack, CLI) renders it its own way. */
export type CommandOutcome =
  | { kind: 'help'; entries: HelpEntry[] }
  | { kind: 'status'; report: StatusReport }
  | { kind: 'history'; entries: AuditEntry[]; verdict: ChainVerdict | undefined }
  | { kind: 'backup'; taken: BackupManifest[]; failed?: FailedBackup[] }
  | { kind: 'plan'; gate: Gate }
  | { kind: 'alerts'; alerts: AlertRecord[]; now: string }
  | { kind: 'incident'; action: string; incident: Incident; resolution?: { downtimeMs: number; dataLossMs?: number } }
  | { kind: 'checklist'; incident: Incident }
  | { kind: 'run'; run: Run }
  | { kind: 'checksums'; report: ChecksumReport }
  | { kind: 'audit'; from: string; until: string; rowCount: number; csv: string }
  | {
      kind: 'backups';
      rows: BackupRow[];
      now: string;
      violations: string[];
      rebuilt?: CatalogRebuild;
      verification?: RepositoryVerification;
      /** Set when the catalog was empty and the rows are the repository's own manifests: what to do about it. */
      fromRepository?: string;
    };

/** What parsing may consult besides the words: the config (e.g. which secrets exist), so a refusal can come in the ack. */
export interface ParseContext {
  config: { secrets: { keys: readonly string[] } };
}

/** A `/dr` subcommand: its grammar, risk class, and (once built) what it runs. */
export interface CommandDefinition<Args = unknown> {
  /** One or two words, e.g. `status`, `restore db`. */
  name: string;
  /** The grammar shown by help, e.g. `restore db [latest|ID]`. */
  usage: string;
  summary: string;
  risk: Risk;
  /** The risk of one invocation when its arguments raise it (`backups --verify` changes the catalog): never lower than `risk`. */
  riskOf?: (args: Args) => Risk;
  /** Turns the words after the name into arguments; throws COMMAND_MALFORMED. `context` is there when a surface parses (not in bare parser tests). */
  parse?: (args: readonly string[], context?: ParseContext) => Args;
  /** Absent while the command is not built yet; help marks it. */
  run?: (deps: CommandDeps, args: Args, invocation: Invocation) => Promise<CommandOutcome>;
  /** Long-running: Slack shows one message in the channel, updated in place with progress, then the result. */
  reportsProgress?: boolean;
}

/** Declares a command with its argument type checked against its own parse/run. */
export function defineCommand<Args>(definition: CommandDefinition<Args>): CommandDefinition<unknown> {
  return definition as CommandDefinition<unknown>;
}

/** The `parse` of a command that takes no arguments: anything after its name is refused. */
export function noArguments(name: string): (args: readonly string[]) => void {
  return (args) => {
    if (args.length > 0) throw new DrError('COMMAND_MALFORMED', `\`${name}\` takes no arguments. Nothing was run.`, { hint: name });
  };
}
