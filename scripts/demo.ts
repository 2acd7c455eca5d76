// `npm run demo`: builds a sandbox Alphha DMS under .sandbox/demo and runs `dr status` against it,
// healthy first and then with the DMS database marked down, so you can see both without Slack.
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

try {
  console.log(`Sandbox DMS in ${path.relative(root, dir)}: ${sandbox.counts.documents} documents, health on ${sandbox.healthUrl}\n`);
  console.log('$ dr status');
  await runCli(['status']);
  console.log('\n$ dr status   # with the fault db_down switched on in the sandbox');
  await sandbox.setFault('db_down', true);
  await runCli(['status']);
} finally {
  await sandbox.stopServer();
}
console.log(`
The sandbox stays on disk. To keep exploring:
  node --import tsx sandbox/cli.ts start ${path.relative(root, dir)}
  DR_CONFIG=${path.relative(root, sandbox.configPath)} DR_STATE=${path.relative(root, dir)}/dr-state.db npx dr status
  DR_CONFIG=${path.relative(root, sandbox.configPath)} DR_STATE=${path.relative(root, dir)}/dr-state.db npx dr history --verify
  node --import tsx sandbox/cli.ts fault ${path.relative(root, dir)} clear
  node --import tsx sandbox/cli.ts stop ${path.relative(root, dir)}`);
