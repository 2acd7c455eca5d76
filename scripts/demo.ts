// `npm run demo`: builds a sandbox Alphha DMS under .sandbox/demo, takes its backups and a drill through
// the CLI, shows `dr status` healthy, then with the DMS reporting its database down, then clears the fault
// and stops the sandbox's server, so nothing is left running or broken.
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../src/cli/main.ts';
import { createSandbox, openSandbox } from '../sandbox/sandbox.ts';

const root = path.resolve(import.meta.dirname, '..');
const dir = path.join(root, '.sandbox', 'demo');

if (existsSync(path.join(dir, 'sandbox.json'))) await (await openSandbox(dir)).destroy();
await rm(dir, { recursive: true, force: true });
const sandbox = await createSandbox({ dir });
await sandbox.startServer();
process.env.DR_CONFIG = sandbox.configPath;
process.env.DR_STATE = path.join(dir, 'dr-state.db');
// Paging counts as configured in status only when a routing key is set. The demo sets a placeholder and
// points the Events API at a closed local port, so nothing can ever be paged from it.
process.env.PAGERDUTY_ROUTING_KEY ??= 'demo0000000000000000000000000000';
process.env.PAGERDUTY_EVENTS_URL ??= 'http://127.0.0.1:9';
// Config backups hold secrets: the demo encrypts them with a throwaway key.
process.env.DR_BACKUP_KEY ??= 'demo-backup-key-not-for-production';

const step = async (title: string, argv: string[]) => {
  console.log(`\n$ dr ${argv.join(' ')}${title ? `   # ${title}` : ''}`);
  const code = await runCli(argv);
  console.log(`(exit ${code})`);
  return code;
};

try {
  console.log(`Sandbox DMS in ${path.relative(root, dir)}: ${sandbox.counts.documents} documents, health on ${sandbox.healthUrl}`);
  await step('database, documents and configuration, each verified', ['backup', 'all']);
  await step('a full recovery into scratch targets, timed against the RTO', ['drill']);
  await step('healthy: exit 0', ['status']);
  await sandbox.setFault('db_down', true);
  await step('the sandbox now reports its database down: exit 1', ['status']);
} finally {
  await sandbox.setFault('db_down', false).catch(() => {});
  await sandbox.stopServer();
}
const env = `DR_CONFIG=${path.relative(root, sandbox.configPath)} DR_STATE=${path.relative(root, dir)}/dr-state.db`;
console.log(`
The fault is cleared and the sandbox's server stopped; its files stay in ${path.relative(root, dir)}. To keep exploring:
  node --import tsx sandbox/cli.ts start ${path.relative(root, dir)}
  ${env} npx dr status
  ${env} npx dr history --verify
  node --import tsx sandbox/cli.ts stop ${path.relative(root, dir)}`);
