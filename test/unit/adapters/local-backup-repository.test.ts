import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalBackupRepository, syncfsReportsErrors } from '../../../src/adapters/repository/local-backup-repository.ts';

describe('syncfsReportsErrors', () => {
  it('trusts syncfs from Linux 5.8 on, and nowhere else', () => {
    expect(syncfsReportsErrors('linux', '5.4.0-150-generic')).toBe(false);
    expect(syncfsReportsErrors('linux', '4.19.0-27-amd64')).toBe(false);
    expect(syncfsReportsErrors('linux', '5.8.0')).toBe(true);
    expect(syncfsReportsErrors('linux', '5.10.0-33-cloud-amd64')).toBe(true);
    expect(syncfsReportsErrors('linux', '6.18.44-fc-v669')).toBe(true);
    expect(syncfsReportsErrors('darwin', '23.6.0')).toBe(false);
    expect(syncfsReportsErrors('linux', 'garbage')).toBe(false);
  });
});

describe('LocalBackupRepository.flushObjects', () => {
  let dir: string;
  let tools: string;
  const realPath = process.env.PATH;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dr-local-repo-'));
    tools = path.join(dir, 'bin');
    await mkdir(tools);
  });
  afterEach(async () => {
    process.env.PATH = realPath;
    await rm(dir, { recursive: true, force: true });
  });

  // A `sync` on PATH that records its argv and exits with `code`.
  async function fakeSync(code: number): Promise<string> {
    const log = path.join(dir, 'sync.argv');
    await writeFile(path.join(tools, 'sync'), `#!/bin/sh\necho "$@" >> '${log}'\nexit ${code}\n`);
    await chmod(path.join(tools, 'sync'), 0o755);
    process.env.PATH = `${tools}:${realPath}`;
    return log;
  }

  async function storeOne(repository: LocalBackupRepository): Promise<string> {
    const object = await repository.putObject({ open: async () => Readable.from([Buffer.from('a document')]) });
    return object.sha256;
  }

  it('flushes the objects folder’s filesystem with one syncfs', async () => {
    const log = await fakeSync(0);
    const repository = new LocalBackupRepository(path.join(dir, 'repo'));
    const stored = await storeOne(repository);
    // An object name that is not there: the fsync fallback would fail on it, one syncfs does not look.
    await repository.flushObjects([stored, 'f'.repeat(64)]);
    expect((await readFile(log, 'utf8')).trim()).toBe(`--file-system ${path.join(dir, 'repo', 'objects')}`);
  });

  it('falls back to an fsync of each object and folder when `sync` fails, and reports what it cannot flush', async () => {
    const log = await fakeSync(1);
    const repository = new LocalBackupRepository(path.join(dir, 'repo'));
    const stored = await storeOne(repository);
    await expect(repository.flushObjects([stored])).resolves.toBeUndefined();
    await expect(repository.flushObjects([stored, 'f'.repeat(64)])).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await readFile(log, 'utf8')).trim().split('\n')).toHaveLength(2);
  });

  it('does nothing when nothing was stored', async () => {
    const log = await fakeSync(0);
    await new LocalBackupRepository(path.join(dir, 'repo')).flushObjects([]);
    await expect(readFile(log, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
