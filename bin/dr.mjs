#!/usr/bin/env node
// Entry point of `npx dr`: runs the compiled JavaScript in dist/ (built by `npm ci` through `prepare`).
import { existsSync } from 'node:fs';

const LEFT_OPEN_GRACE_MS = 5_000;

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('dr: the CLI is not built (dist/ is missing); run `npm run build` (npm ci does it) and try again\n');
  process.exit(2);
}
const { runCli } = await import(entry.href);
process.exitCode = await runCli(process.argv.slice(2));
// Every command closes what it opened; should a handle still be open by mistake (a worker, a socket), the
// terminal is not held mid-incident: the process ends, says so, and tests fail on that line. Unref'd, so it
// never keeps a finished process alive by itself.
setTimeout(() => {
  process.stderr.write(`dr: warning: still running ${LEFT_OPEN_GRACE_MS / 1000} s after the command ended (open: ${process.getActiveResourcesInfo().join(', ')}); exiting\n`);
  process.exit();
}, LEFT_OPEN_GRACE_MS).unref();
