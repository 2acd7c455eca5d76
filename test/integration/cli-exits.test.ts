import { rename } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { dr, type CliResult } from '../helpers/cli.ts';
import { sandboxEnv, tempSandbox } from '../helpers/sandbox.ts';

// Far above what any of these commands needs, far below "forever": a command still running then has hung.
const HANG_MS = 90_000;

/** Runs a command that must fail, and checks it ended by itself: no timeout, no handle left open. */
async function failing(args: string[], env: Record<string, string>): Promise<CliResult> {
  const result = await dr(args, env, { timeoutMs: HANG_MS });
  expect(result.timedOut, `dr ${args.join(' ')} did not exit within ${HANG_MS / 1000} s`).toBe(false);
  // bin/dr.mjs ends a process a leaked handle keeps alive, and says so: that line is the bug.
  expect(result.stderr).not.toContain('still running');
  return result;
}

describe('every failing command ends by itself, with its exit code', { timeout: 2 * HANG_MS + 10_000 }, () => {
  let sandbox: Sandbox;
  let env: Record<string, string>;
  beforeAll(async () => {
    sandbox = await tempSandbox({ documents: 20 });
    env = sandboxEnv(sandbox);
  });
  afterAll(async () => sandbox?.destroy());

  describe('with the uploads folder gone', () => {
    beforeAll(() => rename(sandbox.uploadsDir, `${sandbox.uploadsDir}.gone`));
    afterAll(() => rename(`${sandbox.uploadsDir}.gone`, sandbox.uploadsDir));

    it('backup storage: the error, exit 2', async () => {
      const { code, stderr } = await failing(['backup', 'storage'], env);
      expect(code).toBe(2);
      expect(stderr).toContain('document snapshot failed');
      expect(stderr).toContain(sandbox.uploadsDir);
    });

    it('backup all: takes every kind, reports each, exit 1', async () => {
      const { code, stdout } = await failing(['backup', 'all'], env);
      expect(code).toBe(1);
      const lines = stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^✅ db backup db-\S+: .*verified/);
      expect(lines[1]).toMatch(/^❌ storage backup FAILED: document snapshot failed: .*/);
      expect(lines[2]).toMatch(/^⚠️ config backup config-\S+: /);
      const json = await failing(['backup', 'all', '--json'], env);
      expect(json.code).toBe(1);
      const outcome = JSON.parse(json.stdout) as { taken: Array<{ kind: string; verified: boolean }>; failed: Array<{ kind: string; code: string; message: string }> };
      expect(outcome.taken.map((m) => [m.kind, m.verified])).toEqual([
        ['db', true],
        ['config', true],
      ]);
      expect(outcome.failed).toEqual([{ kind: 'storage', code: 'BACKUP_FAILED', message: expect.stringContaining(sandbox.uploadsDir) }]);
    });

    it('verify checksums: every document missing, exit 1', async () => {
      const { code, stdout } = await failing(['verify', 'checksums'], env);
      expect(code).toBe(1);
      expect(stdout).toContain('missing');
    });

    it('restore storage: no snapshot to restore from, exit 2', async () => {
      const { code, stderr } = await failing(['restore', 'storage', 'latest', '--confirm', 'alphha-sandbox', '--break-glass'], env);
      expect(code).toBe(2);
      expect(stderr).toContain('no verified storage backup');
    });
  });

  describe('with the DMS database gone', () => {
    const live = () => sandbox.manifest.dbPath!;
    beforeAll(() => rename(live(), `${live()}.gone`));
    afterAll(() => rename(`${live()}.gone`, live()));

    it('backup db: the error, exit 2', async () => {
      const { code, stderr } = await failing(['backup', 'db'], env);
      expect(code).toBe(2);
      expect(stderr).toMatch(/^dr: .+/);
    });

    it('status: degraded, exit 1', async () => {
      const { code, stdout } = await failing(['status'], env);
      expect(code).toBe(1);
      expect(stdout).toMatch(/❌ DMS database/);
    });

    it('drill: fails and says where, exit 1', async () => {
      const { code, stdout } = await failing(['drill'], env);
      expect(code).toBe(1);
      expect(stdout).toContain('Failed at');
    });

    it('restore undo: nothing to undo, exit 2', async () => {
      const { code, stderr } = await failing(['restore', 'undo', '--confirm', 'alphha-sandbox', '--break-glass'], env);
      expect(code).toBe(2);
      expect(stderr).toContain('nothing to undo');
    });
  });
});
