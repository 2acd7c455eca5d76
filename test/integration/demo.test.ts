// `npm run demo` is the README's first taste of dr-bot: it must show what it says (healthy, then broken)
// and leave the sandbox clean (fault cleared, server stopped).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readFaults, readManifest, serverRunning } from '../../sandbox/sandbox.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('npm run demo', () => {
  it('shows status healthy (exit 0), then failing with the database down (exit 1), and leaves no fault or server behind', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' },
      timeout: 240_000,
    });
    const healthy = stdout.slice(stdout.indexOf('$ dr status   # healthy'));
    expect(healthy).toMatch(/^\$ dr status {3}# healthy: exit 0\n✅ alphha-sandbox is healthy[\s\S]*?\(exit 0\)/);
    const broken = stdout.slice(stdout.indexOf('$ dr status   # the sandbox now reports its database down'));
    expect(broken).toMatch(/❌ alphha-sandbox is failing[\s\S]*❌ DMS database\s+the DMS reports its database down[\s\S]*?\(exit 1\)/);
    const manifest = await readManifest(path.join(ROOT, '.sandbox', 'demo'));
    expect((await readFaults(path.join(manifest.dir, 'faults.json'))).db_down).toBe(false);
    expect(await serverRunning(manifest)).toBe(false);
  }, 300_000);
});
