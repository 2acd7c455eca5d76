import { DrError, toDrError } from '../domain/errors.ts';
import { BACKUP_KINDS, type BackupKind } from '../ports/backup-repository.ts';
import { raiseJobFailure, resolveJobFailure } from '../alerts/job-failure.ts';
import { defineCommand, type FailedBackup } from './types.ts';

const TARGETS = ['db', 'storage', 'config', 'all'] as const;
type Target = (typeof TARGETS)[number];

/** `/dr backup [db|storage|config|all]`: take a backup now, verified before it counts. */
export const backupCommand = defineCommand({
  name: 'backup',
  usage: 'backup [db|storage|config|all]',
  summary: 'take a backup now (verified before it counts)',
  risk: 'operate',
  parse: (args): Target => {
    if (args.length > 1) throw new DrError('COMMAND_MALFORMED', '`backup` takes one of db, storage, config, all. Nothing was run.', { hint: 'backup db' });
    const target = (args[0] ?? 'all').toLowerCase();
    if (!(TARGETS as readonly string[]).includes(target)) {
      throw new DrError('COMMAND_MALFORMED', `\`backup\` takes one of db, storage, config, all, not "${target.slice(0, 20).replace(/[<>&`]/g, '')}". Nothing was run.`, { hint: 'backup db' });
    }
    return target as Target;
  },
  reportsProgress: true,
  run: async (deps, target, invocation) => {
    const kinds: readonly BackupKind[] = target === 'all' ? BACKUP_KINDS : [target];
    const take = { db: deps.backupDatabase, storage: deps.backupStorage, config: deps.backupConfig };
    const taken = [];
    const failed: FailedBackup[] = [];
    // One after the other (BACKUP_KINDS order): the database first, as it is what the RPO is measured against.
    // One kind failing does not stop the others: mid-incident, every backup that can be taken is wanted.
    for (const kind of kinds) {
      const job = `backup-${kind}`;
      try {
        taken.push(await take[kind](invocation.progress));
      } catch (error) {
        // A backup someone asked for fails as loudly as a scheduled one: the same alert, paged the same way.
        await raiseJobFailure(deps, job, 'manual', error, { 'requested by': invocation.actor, from: invocation.source });
        if (target !== 'all') throw error;
        const reason = toDrError(error);
        failed.push({ kind, code: reason.code, message: reason.userMessage });
        continue;
      }
      await resolveJobFailure(deps, job);
    }
    return { kind: 'backup', taken, ...(failed.length ? { failed } : {}) };
  },
});
