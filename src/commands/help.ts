import { DrError } from '../domain/errors.ts';
import { defineCommand } from './types.ts';

/** `/dr help`: the whole grammar, generated from the registry. */
export const helpCommand = defineCommand({
  name: 'help',
  usage: 'help',
  summary: 'this list',
  risk: 'read',
  parse: (args) => {
    if (args.length > 0) throw new DrError('COMMAND_MALFORMED', '`help` takes no arguments.', { hint: 'help' });
  },
  // Imported lazily: the registry imports this file.
  run: async () => ({ kind: 'help', entries: (await import('./registry.ts')).helpEntries() }),
});
