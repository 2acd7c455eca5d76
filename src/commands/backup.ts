import { DrError } from '../domain/errors.ts';
import { BACKUP_KINDS, type BackupKind } from '../ports/backup-repository.ts';
import { defineCommand } from './types.ts';

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
    const taken = [];
    // One after the other: the database first, as it is what the RPO is measured against.
    if (kinds.includes('db')) taken.push(await deps.backupDatabase(invocation.progress));
    if (kinds.includes('storage')) taken.push(await deps.backupStorage(invocation.progress));
    if (kinds.includes('config')) taken.push(await deps.backupConfig(invocation.progress));
    return { kind: 'backup', taken };
  },
});
