import { verifyAuditChain } from '../domain/audit.ts';
import { DrError } from '../domain/errors.ts';
import { defineCommand } from './types.ts';

const MAX_ROWS = 200;

/** `/dr history [N] [--verify]`: the bot's own hash-chained action log. */
export const historyCommand = defineCommand({
  name: 'history',
  usage: 'history [N] [--verify]',
  summary: "the bot's own action log (hash-chained); --verify checks the whole chain",
  risk: 'read',
  parse: (args) => {
    let limit = 20;
    let verify = false;
    for (const arg of args) {
      if (arg === '--verify') verify = true;
      else if (/^\d{1,4}$/.test(arg) && Number(arg) >= 1 && Number(arg) <= MAX_ROWS) limit = Number(arg);
      else throw new DrError('COMMAND_MALFORMED', `\`history\` takes a row count from 1 to ${MAX_ROWS} and/or --verify, not "${arg}".`, { hint: 'history [N] [--verify]' });
    }
    return { limit, verify };
  },
  run: async (deps, args) => {
    if (!args.verify) {
      const newest = await deps.store.listAudit({ limit: args.limit, order: 'desc' });
      return { kind: 'history', entries: newest.reverse(), verdict: undefined };
    }
    // The chain can only be checked from its first row, so --verify reads all of it.
    const all = await deps.store.listAudit();
    return { kind: 'history', entries: all.slice(-args.limit), verdict: verifyAuditChain(all) };
  },
});
