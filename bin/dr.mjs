#!/usr/bin/env node
// Entry point of `npx dr`: runs the compiled JavaScript in dist/ (built by `npm ci` through `prepare`).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('dr: the CLI is not built (dist/ is missing); run `npm run build` (npm ci does it) and try again\n');
  process.exit(2);
}
const { runCli } = await import(entry.href);
process.exitCode = await runCli(process.argv.slice(2));
