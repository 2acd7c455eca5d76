import { DrError } from '../domain/errors.ts';
import { openGate } from '../gates/gates.ts';
import { looksLikeBackupId } from '../procedures/plan-helpers.ts';
import { defineCommand, noArguments } from './types.ts';

/** `restore db|storage [latest|ID]`: one backup, `latest` (the newest verified) by default. */
function parseBackupChoice(name: string, kind: 'db' | 'storage'): (args: readonly string[]) => string {
  return (args) => {
    if (args.length > 1) throw new DrError('COMMAND_MALFORMED', `\`${name}\` takes one backup: \`latest\` or an id from \`/dr backups ${kind}\`. Nothing was run.`, { hint: `${name} latest` });
    const choice = args[0] ?? 'latest';
    if (choice !== 'latest' && !looksLikeBackupId(choice)) {
      throw new DrError('COMMAND_MALFORMED', `"${choice.slice(0, 40).replace(/[<>&`]/g, '')}" is not a backup id (they look like ${kind}-20261126T030000Z-3f9a; see \`/dr backups ${kind}\`). Nothing was run.`, { hint: `backups ${kind}` });
    }
    return choice;
  };
}

/** `/dr restore db [latest|ID]`: answers with a plan behind a gate; nothing runs until it is confirmed (and approved). */
export const restoreDbCommand = defineCommand({
  name: 'restore db',
  usage: 'restore db [latest|ID]',
  summary: 'restore the DMS database from a verified backup (gated)',
  risk: 'destructive',
  parse: parseBackupChoice('restore db', 'db'),
  run: async (deps, choice, invocation) => {
    const plan = await deps.gated.plan('restore-db', { backup: choice });
    return { kind: 'plan', gate: await openGate(deps.gates, plan, invocation) };
  },
});

/** `/dr restore storage [latest|ID]`: writes back only missing or damaged documents, behind the restore gate. */
export const restoreStorageCommand = defineCommand({
  name: 'restore storage',
  usage: 'restore storage [latest|ID]',
  summary: 'restore missing or damaged documents (gated)',
  risk: 'destructive',
  parse: parseBackupChoice('restore storage', 'storage'),
  run: async (deps, choice, invocation) => {
    const plan = await deps.gated.plan('restore-storage', { backup: choice });
    return { kind: 'plan', gate: await openGate(deps.gates, plan, invocation) };
  },
});

/** `/dr restore all` (runbook §3.3): config, database, documents, migrations, start and health as one gated run. */
export const restoreAllCommand = defineCommand({
  name: 'restore all',
  usage: 'restore all',
  summary: 'config, database, documents, migrations, health in one run (gated)',
  risk: 'destructive',
  parse: noArguments('restore all'),
  run: async (deps, _args, invocation) => {
    const plan = await deps.gated.plan('restore-all', {});
    return { kind: 'plan', gate: await openGate(deps.gates, plan, invocation) };
  },
});

/** `/dr restore undo`: swaps back the database the newest restore replaced, behind the same gate. */
export const restoreUndoCommand = defineCommand({
  name: 'restore undo',
  usage: 'restore undo',
  summary: 'swap the pre-restore database back in (gated)',
  risk: 'destructive',
  parse: noArguments('restore undo'),
  run: async (deps, _args, invocation) => {
    const plan = await deps.gated.plan('restore-undo', {});
    return { kind: 'plan', gate: await openGate(deps.gates, plan, invocation) };
  },
});
