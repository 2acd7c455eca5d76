import { DrError } from '../domain/errors.ts';
import { collectStatus } from '../procedures/status.ts';
import { defineCommand } from './types.ts';

/** `/dr status`: every DMS component probed at once, with RPO exposure. */
export const statusCommand = defineCommand({
  name: 'status',
  usage: 'status',
  summary: 'health of the DMS: database, endpoints, storage, backups, paging',
  risk: 'read',
  parse: (args) => {
    if (args.length > 0) throw new DrError('COMMAND_MALFORMED', '`status` takes no arguments.', { hint: 'status' });
  },
  run: async (deps) => ({ kind: 'status', report: await collectStatus(deps.status) }),
});
