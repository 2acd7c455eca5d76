import type { GatedProcedure, Plan } from '../domain/plan.ts';
import { DrError } from '../domain/errors.ts';
import { openGate } from '../gates/gates.ts';
import type { BackupKind } from '../ports/backup-repository.ts';
import { looksLikeBackupId } from '../procedures/plan-helpers.ts';
import { catalogLostAdvice, knownBackups } from '../procedures/status.ts';
import { defineCommand, noArguments, type CommandDeps } from './types.ts';

// How long a restore may spend listing the repository's manifests when the catalog is empty.
const REPOSITORY_SCAN_MS = 60_000;

/**
 * Plans a restore. When there is no backup to plan with because the catalog holds none of the kinds it needs
 * (the bot's state lost, DR_STATE mistyped), the repository is listed, read-only: if it holds such backups the
 * answer says so and how to bring the catalog back, never "take a backup".
 */
async function planRestore(deps: CommandDeps, procedure: GatedProcedure, request: Record<string, string>, kinds: readonly BackupKind[]): Promise<Plan> {
  try {
    return await deps.gated.plan(procedure, request);
  } catch (error) {
    if (!(error instanceof DrError) || error.code !== 'BACKUP_NOT_FOUND') throw error;
    const empty: BackupKind[] = [];
    for (const kind of kinds) if ((await deps.store.listCatalog({ kind, limit: 1 })).length === 0) empty.push(kind);
    if (empty.length === 0) throw error;
    const found = await knownBackups({ repository: deps.status.repository }, AbortSignal.timeout(REPOSITORY_SCAN_MS), empty).catch(() => undefined);
    if (!found?.backups.length) throw error;
    throw new DrError('BACKUP_NOT_FOUND', `${catalogLostAdvice(deps.status.repository.location, found.backups)} Nothing was run.`, { cause: error });
  }
}

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
    const plan = await planRestore(deps, 'restore-db', { backup: choice }, ['db']);
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
    const plan = await planRestore(deps, 'restore-storage', { backup: choice }, ['storage']);
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
    const plan = await planRestore(deps, 'restore-all', {}, ['db', 'storage', 'config']);
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
