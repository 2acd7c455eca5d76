import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSandbox, type CreateSandboxOptions, type Sandbox } from '../../sandbox/sandbox.ts';
import { PG_ADMIN_URL } from './pg.ts';

/** A sandbox DMS in a fresh temp folder; probes time out after 2 s so failure tests stay quick. */
export async function tempSandbox(options: Omit<CreateSandboxOptions, 'dir'> = {}): Promise<Sandbox> {
  const dir = path.join(await mkdtemp(path.join(tmpdir(), 'dr-sandbox-')), 'dms');
  return createSandbox({
    dir,
    postgresAdminUrl: PG_ADMIN_URL,
    ...options,
    config: { probes: { timeout: '2s' }, ...options.config },
  });
}
