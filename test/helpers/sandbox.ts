import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSandbox, type CreateSandboxOptions, type Sandbox } from '../../sandbox/sandbox.ts';
import { PG_ADMIN_URL } from './pg.ts';

/**
 * A sandbox DMS in a fresh temp folder (removed whole by destroy). Probes time out after 2 s so failure
 * tests stay quick, and the storage threshold sits at 99 % so a fullish test disk does not flip ✅ to ⚠️.
 */
export async function tempSandbox(options: Omit<CreateSandboxOptions, 'dir'> = {}): Promise<Sandbox> {
  const parent = await mkdtemp(path.join(tmpdir(), 'dr-sandbox-'));
  const sandbox = await createSandbox({
    dir: path.join(parent, 'dms'),
    postgresAdminUrl: PG_ADMIN_URL,
    ...options,
    config: { probes: { timeout: '2s' }, alerts: { thresholds: { storage_used_pct: 99 } }, ...options.config },
  });
  const destroy = sandbox.destroy.bind(sandbox);
  sandbox.destroy = async () => {
    await destroy();
    await rm(parent, { recursive: true, force: true });
  };
  return sandbox;
}

/** The environment that points the bot or the CLI at a sandbox: its dr.yml and a SQLite state store beside it. */
export function sandboxEnv(sandbox: Sandbox): { DR_CONFIG: string; DR_STATE: string } {
  return { DR_CONFIG: sandbox.configPath, DR_STATE: path.join(sandbox.dir, 'dr-state.db') };
}
