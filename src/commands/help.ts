import { defineCommand, noArguments } from './types.ts';

/** `/dr help`: the whole grammar, generated from the registry. */
export const helpCommand = defineCommand({
  name: 'help',
  usage: 'help',
  summary: 'this list',
  risk: 'read',
  parse: noArguments('help'),
  // Imported lazily: the registry imports this file.
  run: async () => ({ kind: 'help', entries: (await import('./registry.ts')).helpEntries() }),
});
