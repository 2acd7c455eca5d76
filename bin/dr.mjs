#!/usr/bin/env node
// Entry point of `npx dr`: loads the TypeScript sources through tsx, so there is no build step.
import { register } from 'tsx/esm/api';

const LEFT_OPEN_GRACE_MS = 5_000;

register();
const { runCli } = await import('../src/cli/main.ts');
process.exitCode = await runCli(process.argv.slice(2));
// Every command closes what it opened; should a handle still be open by mistake (a worker, a socket), the
// terminal is not held mid-incident: the process ends, says so, and tests fail on that line. Unref'd, so it
// never keeps a finished process alive by itself.
setTimeout(() => {
  process.stderr.write(`dr: warning: still running ${LEFT_OPEN_GRACE_MS / 1000} s after the command ended (open: ${process.getActiveResourcesInfo().join(', ')}); exiting\n`);
  process.exit();
}, LEFT_OPEN_GRACE_MS).unref();
