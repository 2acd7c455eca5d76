import { chmod, mkdir, open, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import type { BackupManifest } from '../../src/backup/manifest.ts';
import type { DispatchDeps } from '../../src/commands/dispatch.ts';
import { composeDeps } from '../../src/compose.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { Run } from '../../src/domain/run.ts';
import { dr } from '../helpers/cli.ts';
import { captureLogs } from '../helpers/logs.ts';
import { tempSandbox } from '../helpers/sandbox.ts';

/** Flips one byte in the middle of a file. */
async function flipByte(file: string): Promise<void> {
  await chmod(file, 0o600);
  const handle = await open(file, 'r+');
  try {
    const { size } = await handle.stat();
    const at = Math.floor(size / 2);
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, at);
  } finally {
    await handle.close();
  }
}

describe('dr drill', () => {
  let sandbox: Sandbox;
  let deps: DispatchDeps;
  let env: Record<string, string>;
  // The CLI's temp folder (TMPDIR), so what the drill leaves there can be seen.
  let scratchRoot: string;
  let snapshot: BackupManifest;
  beforeAll(async () => {
    sandbox = await tempSandbox();
    scratchRoot = path.join(sandbox.dir, 'tmp');
    await mkdir(scratchRoot);
    const state = path.join(sandbox.dir, 'drill-state.db');
    env = { DR_CONFIG: sandbox.configPath, DR_STATE: state, TMPDIR: scratchRoot };
    deps = await composeDeps(loadConfig({ DR_CONFIG: sandbox.configPath, DR_STATE: state }), captureLogs('silent').logger);
    await deps.backupDatabase();
    snapshot = await deps.backupStorage();
    await deps.backupConfig();
  });
  afterAll(async () => {
    await deps?.store.close();
    await sandbox?.destroy();
  });

  /** Scratch databases and folders a drill could have left behind. */
  const leftovers = async (): Promise<string[]> => {
    const live = sandbox.manifest.dbPath!;
    const databases = (await readdir(path.dirname(live))).filter((name) => name.startsWith(`${path.basename(live)}.restore-`));
    const folders = (await readdir(scratchRoot)).filter((name) => name.startsWith('dr-'));
    return [...databases, ...folders];
  };

  it('recovers every backup into scratch targets, measures the RTO, and /dr status shows it', async () => {
    const { code, stdout } = await dr(['drill', '--json'], env);
    expect(code).toBe(0);
    const { kind, run } = JSON.parse(stdout) as { kind: string; run: Run };
    expect(kind).toBe('run');
    expect(run).toMatchObject({ procedure: 'drill', status: 'succeeded' });
    expect(run.steps).toHaveLength(10);
    expect(run.steps.every((step) => step.status === 'done')).toBe(true);
    expect(run.summary).toMatchObject({
      rtoMs: run.summary.durationMs,
      rtoTargetMs: 4 * 3_600_000,
      withinRto: true,
      counts: { documents: sandbox.counts.documents, users: sandbox.counts.users, tenants: sandbox.counts.tenants },
      documentsReadBack: sandbox.counts.documents,
    });
    expect(run.steps.find((s) => s.name.startsWith('documents: read'))!.detail).toContain(`${sandbox.counts.documents} documents`);
    expect(await leftovers()).toEqual([]);

    const drills = (await deps.currentStatus()).probes.find((p) => p.id === 'drills')!;
    expect(drills.state).toBe('ok');
    expect(drills.summary).toMatch(/^RTO \d.* \(target 4 h\), newest drill .* ago$/);
    expect(drills.details[0]).toContain(run.id);
    const text = await dr(['status'], env);
    expect(text.stdout).toMatch(/✅ Recovery drills\s+RTO .*\(target 4 h\)/);
  });

  it('fails naming the document whose object in the repository is damaged, and status says so', async () => {
    const full = JSON.parse(await readFile(path.join(sandbox.manifest.backupsDir, 'manifests', `${snapshot.id}.json`), 'utf8')) as BackupManifest;
    const victim = full.documents![3]!;
    await flipByte(path.join(sandbox.manifest.backupsDir, 'objects', victim.sha256.slice(0, 2), victim.sha256));
    const { code, stdout } = await dr(['drill'], env);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^❌ drill run-\S+: failed/);
    expect(stdout).toContain(`❌ documents: read every document of the snapshot back into a scratch folder — `);
    expect(stdout).toContain(`documents of ${snapshot.id} could not be read back intact: ${victim.path} (content for ${victim.path} has SHA-256`);
    expect(stdout).toContain('⏭️ documents: remove the scratch folder');
    expect(stdout).toMatch(/Measured RTO: .* — not achieved: the drill failed/);
    // The partly filled scratch folder was made under TMPDIR, and removed after the failure.
    expect(stdout).toContain(`removed the scratch folder ${path.join(scratchRoot, 'dr-drill-documents-')}`);
    expect(await leftovers()).toEqual([]);
    const drills = (await deps.currentStatus()).probes.find((p) => p.id === 'drills')!;
    expect(drills).toMatchObject({ state: 'fail', summary: expect.stringMatching(/^newest drill failed .* ago — RTO not achieved/) });
  });
});
