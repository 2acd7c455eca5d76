import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { dr } from '../helpers/cli.ts';
import { sandboxEnv, tempSandbox } from '../helpers/sandbox.ts';

// A host whose repository holds backups, run with a DR_STATE that is new or mistyped: the catalog is empty.
describe('an empty catalog over a repository that holds backups', { timeout: 180_000 }, () => {
  let sandbox: Sandbox;
  let fresh: Record<string, string>;
  let dbBackup: string;
  beforeAll(async () => {
    sandbox = await tempSandbox({ documents: 10 });
    const env = sandboxEnv(sandbox);
    const taken = await dr(['backup', 'db', '--json'], env);
    expect(taken.code).toBe(0);
    dbBackup = (JSON.parse(taken.stdout) as { taken: Array<{ id: string }> }).taken[0]!.id;
    fresh = { ...env, DR_STATE: path.join(sandbox.dir, 'dr-stat.db') };
  }, 120_000);
  afterAll(async () => sandbox?.destroy());

  it('restore db says the repository holds backups and how to bring the catalog back, never "take one"', async () => {
    const { code, stderr } = await dr(['restore', 'db', 'latest', '--confirm', 'alphha-sandbox', '--break-glass'], fresh);
    expect(code).toBe(2);
    expect(stderr).toContain(`the repository ${sandbox.manifest.backupsDir} holds 1 backup (newest: ${dbBackup}`);
    expect(stderr).toContain('DR_STATE points at another file');
    expect(stderr).toContain('`dr backups --rebuild`');
    expect(stderr).toContain('Nothing was run.');
    expect(stderr).not.toContain('take one');
  });

  it('restore storage, with no snapshot in the repository either, still says to take one', async () => {
    const { code, stderr } = await dr(['restore', 'storage', 'latest', '--confirm', 'alphha-sandbox', '--break-glass'], fresh);
    expect(code).toBe(2);
    expect(stderr).toContain('take one with `/dr backup storage`');
  });

  it('restore all names the repository too', async () => {
    const { code, stderr } = await dr(['restore', 'all', '--confirm', 'alphha-sandbox', '--break-glass'], fresh);
    expect(code).toBe(2);
    expect(stderr).toContain('`dr backups --rebuild`');
  });

  it('backups lists the repository manifests, says where they come from, and changes nothing', async () => {
    const { code, stdout } = await dr(['backups'], fresh);
    expect(code).toBe(0);
    expect(stdout).toContain("⚠️ Listed from the repository's manifests.");
    expect(stdout).toMatch(new RegExp(`^${dbBackup}\\s.*verified`, 'm'));
    expect(stdout).not.toContain('No backups catalogued yet.');
    // Read-only: the catalog is still empty, so the same advice stands.
    const again = await dr(['backups', '--json'], fresh);
    expect((JSON.parse(again.stdout) as { fromRepository?: string }).fromRepository).toContain('dr backups --rebuild');
  });

  it('after --rebuild, restore db plans from the backup', async () => {
    expect((await dr(['backups', '--rebuild'], fresh)).code).toBe(0);
    const { code, stdout } = await dr(['restore', 'db', 'latest', '--confirm', 'alphha-sandbox'], fresh);
    expect(stdout).toContain(dbBackup);
    expect(code).toBe(3);
  });
});
