import { DrError } from '../domain/errors.ts';
import { looksLikeBackupId } from '../procedures/plan-helpers.ts';
import { defineCommand } from './types.ts';

/** `/dr verify backup [ID]` (runbook §4.1): restore a database backup into a scratch database, check it, count it beside live. */
export const verifyBackupCommand = defineCommand({
  name: 'verify backup',
  usage: 'verify backup [ID]',
  summary: 'restore a backup into a scratch target and compare counts',
  risk: 'operate',
  reportsProgress: true,
  parse: (args): string => {
    if (args.length > 1) throw new DrError('COMMAND_MALFORMED', '`verify backup` takes at most one database backup id (see `/dr backups db`). Nothing was run.', { hint: 'verify backup' });
    const choice = args[0] ?? 'latest';
    if (choice === 'latest') return choice;
    if (!looksLikeBackupId(choice)) {
      throw new DrError('COMMAND_MALFORMED', `"${choice.slice(0, 40).replace(/[<>&`]/g, '')}" is not a backup id (they look like db-20261126T030000Z-3f9a; see \`/dr backups db\`). Nothing was run.`, { hint: 'backups db' });
    }
    // Storage snapshots and config archives have their own checks; this one restores a database.
    if (!choice.startsWith('db-')) {
      throw new DrError('COMMAND_MALFORMED', `${choice} is not a database backup: \`verify backup\` restores database backups (\`/dr backups --verify\` re-reads the others). Nothing was run.`, { hint: 'backups db' });
    }
    return choice;
  },
  run: async (deps, choice, invocation) => ({ kind: 'run', run: await deps.verifyBackup(choice, invocation.progress, invocation.actor) }),
});
