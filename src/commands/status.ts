import { defineCommand, noArguments } from './types.ts';

/** `/dr status`: every DMS component probed at once, with RPO exposure. */
export const statusCommand = defineCommand({
  name: 'status',
  usage: 'status',
  summary: 'health of the DMS: database, endpoints, storage, backups, paging',
  risk: 'read',
  parse: noArguments('status'),
  run: async (deps) => ({ kind: 'status', report: await deps.currentStatus() }),
});
