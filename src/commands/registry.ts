import { auditCommand } from './audit.ts';
import { verifyChecksumsCommand } from './verify-checksums.ts';
import { verifyBackupCommand } from './verify-backup.ts';
import { drillCommand } from './drill.ts';
import { backupCommand } from './backup.ts';
import { backupsCommand } from './backups.ts';
import { helpCommand } from './help.ts';
import { historyCommand } from './history.ts';
import { statusCommand } from './status.ts';
import { alertsCommand } from './alerts.ts';
import { checklistCommand } from './checklist.ts';
import { isolateCommand } from './isolate.ts';
import { incidentDeclareCommand, incidentNotifyCommand, incidentResolveCommand, incidentUpdateCommand } from './incident.ts';
import { restoreAllCommand, restoreDbCommand, restoreStorageCommand, restoreUndoCommand } from './restore.ts';
import { rotateSecretsCommand } from './rotate-secrets.ts';
import type { CommandDefinition, HelpEntry } from './types.ts';


/** Every `/dr` subcommand, in the order help lists them. The one place a command is declared. */
export const COMMANDS: readonly CommandDefinition[] = [
  helpCommand,
  statusCommand,
  backupCommand,
  backupsCommand,
  restoreDbCommand,
  restoreStorageCommand,
  restoreAllCommand,
  restoreUndoCommand,
  isolateCommand,
  rotateSecretsCommand,
  verifyChecksumsCommand,
  verifyBackupCommand,
  auditCommand,
  historyCommand,
  drillCommand,
  alertsCommand,
  incidentDeclareCommand,
  incidentUpdateCommand,
  incidentResolveCommand,
  incidentNotifyCommand,
  checklistCommand,
];

/** Help lines generated from the registry, so help can never disagree with what runs. */
export function helpEntries(): HelpEntry[] {
  return COMMANDS.map((c) => ({ usage: c.usage, summary: c.summary, risk: c.risk, built: c.run !== undefined }));
}
