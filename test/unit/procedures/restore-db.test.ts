import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { BackupManifest } from '../../../src/backup/manifest.ts';
import { executeRun } from '../../../src/procedures/engine.ts';
import { planRestoreAll, restoreAllRun } from '../../../src/procedures/restore-all.ts';
import { planRestoreDb, planRestoreUndo, restoreDbRun, restoreUndoRun, type RestoreDbDeps } from '../../../src/procedures/restore-db.ts';
import type { RestoreStorageDeps } from '../../../src/procedures/restore-storage.ts';
import { HEALTHY_ENDPOINTS, RecordingRestorer, recordingService, type CallLog } from '../../fakes/database-restorer.ts';
import { captureLogs } from '../../helpers/logs.ts';
import { useTempStateStore } from '../../helpers/temp-store.ts';

const temp = useTempStateStore('dr-restore-db');
const WHO = { actor: 'U0OPERATOR' };

describe('restore db and undo: every check that can be made before the stop is made before it', () => {
  let calls: CallLog;
  let restorer: RecordingRestorer;
  let deps: RestoreDbDeps;
  const engine = () => ({ store: temp.store, now: () => new Date(), owner: 'test:1', logger: captureLogs('silent').logger });

  beforeEach(async () => {
    calls = [];
    restorer = new RecordingRestorer(calls);
    const dump = path.join(temp.dir, 'db.sqlite');
    await writeFile(dump, 'a database backup');
    const manifest: BackupManifest = {
      format: 1,
      id: 'db-20261201T000000Z-aaaa',
      kind: 'db',
      started_at: '2026-12-01T00:00:00.000Z',
      finished_at: '2026-12-01T00:00:01.000Z',
      source: { engine: 'sqlite', location: 'sqlite:live' },
      files: [{ key: 'db/db.sqlite', size_bytes: 17, sha256: createHash('sha256').update('a database backup').digest('hex') }],
      size_bytes: 17,
      tools: {},
      verified: true,
      verification: { integrity: 'ok', hashes_rechecked: true, counts: { documents: 10, users: 2, tenants: 1 } },
    };
    await temp.store.recordBackup(manifest);
    deps = {
      store: temp.store,
      repository: { localFile: async () => ({ path: dump, release: async () => {} }) },
      restorer,
      service: recordingService(calls),
      endpoints: HEALTHY_ENDPOINTS,
      liveLocation: 'sqlite:live',
      healthDeadlineMs: 5_000,
      now: () => new Date(),
    };
  });

  it('restore db: a swap that cannot be made fails before the service is stopped, and the scratch copy goes', async () => {
    restorer.swapProblem = 'live.pre-x already exists; use another label';
    const plan = await planRestoreDb(deps, 'latest');
    const run = await executeRun(engine(), restoreDbRun(deps, plan, WHO));
    expect(run.status).toBe('failed');
    expect(run.summary.failedStep).toBe('check integrity and counts, and that the swap can be made');
    expect(calls).not.toContain('service stop');
    expect(calls.filter((c) => c.startsWith('swapIn'))).toEqual([]);
    expect(calls.at(-1)).toMatch(/^drop live\.restore-/);
    expect(run.summary.recovery).toEqual([expect.stringMatching(/^removed the unfinished restore/), 'the live database was not changed']);
  });

  it('restore db: checks the swap before it stops, then swaps the checked database', async () => {
    const plan = await planRestoreDb(deps, 'latest');
    const run = await executeRun(engine(), restoreDbRun(deps, plan, WHO));
    expect(run.status).toBe('succeeded');
    const order = calls.map((c) => c.split(' ')[0]! + (c.startsWith('service') ? ` ${c.split(' ')[1]}` : ''));
    expect(order).toEqual(['restoreToScratch', 'inspect', 'checkSwap', 'service stop', 'swapIn', 'service start']);
  });

  async function restoredOnce(): Promise<string> {
    const run = await executeRun(engine(), restoreDbRun(deps, await planRestoreDb(deps, 'latest'), WHO));
    expect(run.status).toBe('succeeded');
    calls.length = 0;
    return (run.summary.kept as { name: string }).name;
  }

  it('undo: a kept database that fails its check is planned as such, marked ⚠️, and swapped back as it is', async () => {
    const kept = await restoredOnce();
    restorer.inspections.set(kept, { integrity: 'SQLITE_NOTADB: file is not a database', counts: { documents: 0, users: 0, tenants: 0 } });
    const plan = await planRestoreUndo(deps);
    expect(plan.notes.join('\n')).toContain('FAILS its integrity check (SQLITE_NOTADB: file is not a database)');
    calls.length = 0;
    const run = await executeRun(engine(), restoreUndoRun(deps, plan, WHO));
    const check = run.steps[0]!;
    expect(check).toMatchObject({ name: 'check the kept database and that it can be swapped back', status: 'done', warning: true });
    expect(check.detail).toContain('FAILS its integrity check');
    expect(calls).toEqual([`inspect ${kept}`, `checkSwap ${kept} asIs`, 'service stop', `swapIn ${kept} asIs`, 'service start']);
    // No counts are claimed for a database that could not be read.
    expect(run.summary.counts).toBeUndefined();
  });

  it('undo: a sound kept database gets a plain tick and is swapped back normally', async () => {
    const kept = await restoredOnce();
    const plan = await planRestoreUndo(deps);
    expect(plan.notes.join('\n')).toContain('passes its integrity check');
    calls.length = 0;
    const run = await executeRun(engine(), restoreUndoRun(deps, plan, WHO));
    expect(run.status).toBe('succeeded');
    expect(run.steps[0]!.warning).toBeUndefined();
    expect(calls).toEqual([`inspect ${kept}`, `checkSwap ${kept}`, 'service stop', `swapIn ${kept}`, 'service start']);
  });

  it('undo: a swap that cannot be made fails before the service is stopped', async () => {
    await restoredOnce();
    const plan = await planRestoreUndo(deps);
    restorer.swapProblem = 'another process has it open';
    calls.length = 0;
    const run = await executeRun(engine(), restoreUndoRun(deps, plan, WHO));
    expect(run.status).toBe('failed');
    expect(run.summary.failedStep).toBe('check the kept database and that it can be swapped back');
    expect(calls.some((c) => c.startsWith('service'))).toBe(false);
    expect(run.summary.recovery).toEqual(['the live database was not changed']);
  });

  describe('restore all', () => {
    async function allDeps(probe: RestoreStorageDeps['storage']['probe'], manifestThere = true) {
      const base = (await temp.store.listCatalog({ kind: 'db' }))[0]!;
      for (const kind of ['storage', 'config'] as const) await temp.store.recordBackup({ ...base, id: `${kind}-20261201T000000Z-aaaa`, kind });
      const storage: RestoreStorageDeps = {
        store: temp.store,
        repository: {
          openObject: async () => {
            throw new Error('not used');
          },
          readManifest: async (id: string) => {
            if (!manifestThere) throw new Error(`manifests/${id}.json: no such object`);
            return { id };
          },
        },
        storage: { location: '/srv/uploads', probe },
        checksums: { load: async () => new Map() },
        openHasher: () => ({ hash: async () => ({ sha256: '', sizeBytes: 0 }), close: async () => {} }),
        writer: { location: '/srv/uploads', write: async () => {} },
        concurrency: 1,
        now: () => new Date(),
      };
      const archiver = { extension: 'tar.gz', archiveTo: async () => { throw new Error('not used'); }, listArchive: async () => ['.env'], restoreArchive: async () => { calls.push('restore config'); return { restored: ['.env'], unchanged: [], kept: [] }; } };
      return { db: deps, storage, archiver, configRoot: temp.dir, systemName: 'alphha-test' };
    }

    it('a storage that cannot take documents fails before the service is stopped and the database swapped', async () => {
      const all = await allDeps(async () => ({ kind: 'local', path: '/srv/uploads', usedPct: 100, freeBytes: 0, fileCount: 0, fileCountComplete: true }));
      const run = await executeRun(engine(), restoreAllRun(all, await planRestoreAll(all), WHO));
      expect(run.status).toBe('failed');
      expect(run.summary.failedStep).toBe('check storage health');
      expect(calls.some((c) => c.startsWith('service') || c.startsWith('swapIn') || c === 'restore config')).toBe(false);
    });

    it("a snapshot whose manifest is gone from the repository fails before the stop", async () => {
      const all = await allDeps(async () => ({ kind: 'local', path: '/srv/uploads', usedPct: 10, freeBytes: 1e9, fileCount: 0, fileCountComplete: true }), false);
      const run = await executeRun(engine(), restoreAllRun(all, await planRestoreAll(all), WHO));
      expect(run.summary.failedStep).toBe('check storage health');
      expect(String(run.summary.reason)).toContain('the manifest of storage-20261201T000000Z-aaaa cannot be read');
      expect(calls.some((c) => c.startsWith('service'))).toBe(false);
    });

    it('a swap that cannot be made fails before the stop and before any config file is written', async () => {
      const all = await allDeps(async () => ({ kind: 'local', path: '/srv/uploads', usedPct: 10, freeBytes: 1e9, fileCount: 0, fileCountComplete: true }));
      restorer.swapProblem = 'the folder does not take changes';
      const run = await executeRun(engine(), restoreAllRun(all, await planRestoreAll(all), WHO));
      expect(run.summary.failedStep).toBe('check integrity and counts, and that the swap can be made');
      expect(calls.some((c) => c.startsWith('service') || c === 'restore config')).toBe(false);
    });
  });
});
