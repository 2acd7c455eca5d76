import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { LocalBackupRepository } from '../../../src/adapters/repository/local-backup-repository.ts';
import { storeSingleFileBackup, type SingleFileBackupDeps } from '../../../src/procedures/single-file-backup.ts';
import { useTempStateStore } from '../../helpers/temp-store.ts';

describe('storeSingleFileBackup failures leave nothing behind', () => {
  const temp = useTempStateStore('dr-sfb');
  let deps: SingleFileBackupDeps;
  const contents = async (sub: string) => readdir(path.join(temp.dir, 'repo', sub)).catch(() => [] as string[]);

  beforeEach(() => {
    deps = { repository: new LocalBackupRepository(path.join(temp.dir, 'repo')), store: temp.store, timeoutMs: 200, now: () => new Date(), botVersion: 'test' };
  });

  // The real repository with some of its methods replaced, as a failing disk or store would behave.
  const repositoryWith = (overrides: Partial<LocalBackupRepository>) => Object.assign(Object.create(deps.repository) as LocalBackupRepository, overrides);
  // A backup whose producer writes a whole, good file, into `repository`.
  const storeWholeDump = (repository: LocalBackupRepository) =>
    storeSingleFileBackup({ ...deps, repository }, 'db', 'dump', async (staged) => {
      await writeFile(staged, 'a whole dump');
      return { integrity: 'ok', tools: {}, source: { location: 'x' } };
    });

  const expectNothingStored = async () => {
    expect(await contents('.staging')).toEqual([]);
    expect(await contents('db')).toEqual([]);
    expect(await contents('manifests')).toEqual([]);
    expect(await temp.store.listCatalog()).toEqual([]);
  };

  it('times out a producer that hangs, with the reason', async () => {
    await expect(
      storeSingleFileBackup(deps, 'db', 'dump', async (staged) => {
        await writeFile(staged, 'partial dump');
        return new Promise(() => {});
      }),
    ).rejects.toMatchObject({ code: 'BACKUP_FAILED', userMessage: 'the db backup did not finish within 200 ms and was stopped' });
    await expectNothingStored();
  });

  it('fails on a disk-full error part-way, removing the partial file', async () => {
    await expect(
      storeSingleFileBackup(deps, 'db', 'dump', async (staged) => {
        await writeFile(staged, 'half a dump');
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }),
    ).rejects.toMatchObject({ code: 'BACKUP_FAILED', userMessage: 'db backup failed: ENOSPC: no space left on device, write' });
    await expectNothingStored();
  });

  it('refuses a copy that fails its own check', async () => {
    await expect(
      storeSingleFileBackup(deps, 'db', 'sqlite', async (staged) => {
        await writeFile(staged, 'not a database');
        return { integrity: 'SQLITE_NOTADB: file is not a database', tools: {}, source: { location: 'x' } };
      }),
    ).rejects.toMatchObject({ code: 'BACKUP_FAILED', userMessage: 'the db backup failed its check: SQLITE_NOTADB: file is not a database' });
    await expectNothingStored();
  });

  it('refuses a file whose streamed hash does not match what was stored', async () => {
    await expect(
      storeSingleFileBackup(deps, 'db', 'dump', async (staged) => {
        await writeFile(staged, 'the real bytes');
        return { integrity: 'ok', sha256: '0'.repeat(64), tools: {}, source: { location: 'x' } };
      }),
    ).rejects.toMatchObject({ code: 'BACKUP_FAILED', userMessage: expect.stringMatching(/reads back with SHA-256 [0-9a-f]{8}, written as 00000000/) });
    await expectNothingStored();
  });

  it('removes the stored file when its manifest cannot be written', async () => {
    const failing = repositoryWith({ writeManifest: async () => Promise.reject(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })) });
    await expect(storeWholeDump(failing)).rejects.toMatchObject({ code: 'BACKUP_FAILED', userMessage: 'db backup failed: EIO: i/o error, write' });
    await expectNothingStored();
  });

  it('times out an upload that hangs after the copy, and a late commit is removed again', async () => {
    let finishCommit: () => void = () => {};
    const committing = new Promise<void>((resolve) => (finishCommit = resolve));
    const real = deps.repository as LocalBackupRepository;
    const hung = repositoryWith({
      commit: async (...args: Parameters<LocalBackupRepository['commit']>) => {
        await committing;
        return real.commit(...args);
      },
    });
    await expect(storeWholeDump(hung)).rejects.toMatchObject({ code: 'BACKUP_FAILED', userMessage: 'the db backup did not finish within 200 ms and was stopped' });
    await expectNothingStored();
    // The stalled upload completes after the deadline: it is discarded, and no manifest follows it.
    finishCommit();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await expectNothingStored();
  });
});
