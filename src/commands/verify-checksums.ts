import { noArguments, defineCommand } from './types.ts';

/** `/dr verify checksums`: every document against `documents.checksum_sha256`, on all cores. */
export const verifyChecksumsCommand = defineCommand({
  name: 'verify checksums',
  usage: 'verify checksums',
  summary: 'SHA-256 of every document against the database, on all cores',
  risk: 'operate',
  reportsProgress: true,
  parse: noArguments('verify checksums'),
  run: async (deps, _args, invocation) => ({ kind: 'checksums', report: await deps.verifyChecksums(invocation.progress) }),
});
