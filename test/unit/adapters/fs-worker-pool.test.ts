import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsWorkerPool } from '../../../src/adapters/storage/fs-worker-pool.ts';

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

describe('FsWorkerPool', () => {
  let dir: string;
  let pool: FsWorkerPool;

  // Its own two-worker pool per test; puts stage under dir/staging, as the local repository's do.
  let staging: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dr-fs-pool-'));
    staging = path.join(dir, 'staging', 'objects');
    pool = new FsWorkerPool({ size: 2 });
  });
  afterEach(async () => {
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists a folder: regular files with size and mtime, subfolders, and nothing else', async () => {
    await mkdir(path.join(dir, 'uploads', 'tenant-1'), { recursive: true });
    await writeFile(path.join(dir, 'uploads', 'a.pdf'), 'hello');
    await utimes(path.join(dir, 'uploads', 'a.pdf'), new Date(1_700_000_000_000), new Date(1_700_000_000_000));
    await symlink('/etc/passwd', path.join(dir, 'uploads', 'escape'));
    const listing = await pool.run('list', { dir: path.join(dir, 'uploads') });
    expect(listing).toEqual({ files: [['a.pdf', 5, 1_700_000_000_000]], dirs: ['tenant-1'] });
  });

  it('stores a file as an object named by its SHA-256, mode 0600, and a second copy of the same content not at all', async () => {
    const source = path.join(dir, 'doc.bin');
    const content = Buffer.alloc(3 * 1024 * 1024 + 7, 'x');
    await writeFile(source, content);
    const objectsDir = path.join(dir, 'objects');
    const first = await pool.run('put', { file: source, objectsDir, stagingDir: staging });
    expect(first).toEqual({ sha256: sha256(content), sizeBytes: content.length, stored: true, readBackSha256: sha256(content) });
    const object = path.join(objectsDir, first.sha256.slice(0, 2), first.sha256);
    expect((await readFile(object)).equals(content)).toBe(true);
    expect((await stat(object)).mode & 0o777).toBe(0o600);
    const again = await pool.run('put', { file: source, objectsDir, stagingDir: staging });
    expect(again.stored).toBe(false);
    const staged = await Promise.all((await readdir(path.join(dir, 'staging'))).map((d) => readdir(path.join(dir, 'staging', d))));
    expect(staged.flat()).toEqual([]);
  });

  it('stages again when its staging folder was removed behind its back (a clean-up elsewhere)', async () => {
    await writeFile(path.join(dir, 'a'), 'first');
    await writeFile(path.join(dir, 'b'), 'second');
    const objectsDir = path.join(dir, 'objects');
    await pool.run('put', { file: path.join(dir, 'a'), objectsDir, stagingDir: staging });
    await rm(path.join(dir, 'staging'), { recursive: true, force: true });
    await rm(objectsDir, { recursive: true, force: true });
    await expect(pool.run('put', { file: path.join(dir, 'b'), objectsDir, stagingDir: staging })).resolves.toMatchObject({ sha256: sha256('second'), stored: true });
    await expect(pool.run('put', { file: path.join(dir, 'a'), objectsDir, stagingDir: staging })).resolves.toMatchObject({ sha256: sha256('first'), stored: true });
  });

  it('copies nothing through a symlink, and skips a subfolder that vanished since its parent was listed', async () => {
    await writeFile(path.join(dir, 'secret'), 'not a document');
    await symlink(path.join(dir, 'secret'), path.join(dir, 'link'));
    await expect(pool.run('put', { file: path.join(dir, 'link'), objectsDir: path.join(dir, 'objects'), stagingDir: staging })).rejects.toMatchObject({ code: 'ELOOP' });
    await expect(pool.run('list', { dir: path.join(dir, 'gone'), mayVanish: true })).resolves.toEqual({ files: [], dirs: [] });
    await expect(pool.run('list', { dir: path.join(dir, 'gone') })).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('replaces a worker that died, failing only its own tasks', async () => {
    const big = path.join(dir, 'big');
    await writeFile(big, Buffer.alloc(64 * 1024 * 1024, 1));
    await writeFile(path.join(dir, 'small'), 'abc');
    const slots = (pool as unknown as { slots?: Array<{ worker: { terminate(): Promise<number> } }> });
    await pool.run('hash', { file: path.join(dir, 'small') });
    // One task on each worker; the first worker is then killed under its task.
    const onFirst = pool.run('hash', { file: big });
    const onSecond = pool.run('hash', { file: big });
    await slots.slots![0]!.worker.terminate();
    await expect(onFirst).rejects.toThrow(/worker exited/);
    await expect(onSecond).resolves.toMatchObject({ size: 64 * 1024 * 1024 });
    const after = await Promise.all(Array.from({ length: 6 }, () => pool.run('hash', { file: path.join(dir, 'small') })));
    expect(after.map((h) => h.sha256)).toEqual(Array(6).fill(sha256('abc')));
  });

  it('hashes a file, and reports a missing one with its error code', async () => {
    await writeFile(path.join(dir, 'f'), 'abc');
    await expect(pool.run('hash', { file: path.join(dir, 'f') })).resolves.toMatchObject({ sha256: sha256('abc'), size: 3 });
    await expect(pool.run('hash', { file: path.join(dir, 'missing') })).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('runs many tasks at once on both workers and answers each its own', async () => {
    const files = await Promise.all(Array.from({ length: 40 }, async (_, i) => {
      const file = path.join(dir, `f${i}`);
      await writeFile(file, `content ${i}`);
      return file;
    }));
    const hashes = await Promise.all(files.map((file) => pool.run('hash', { file })));
    expect(hashes.map((h) => h.sha256)).toEqual(files.map((_, i) => sha256(`content ${i}`)));
  });

  it('stages each worker in a folder of its own, removes them when closed, and starts again on the next task', async () => {
    await writeFile(path.join(dir, 'f'), 'abc');
    await Promise.all(Array.from({ length: 8 }, () => pool.run('put', { file: path.join(dir, 'f'), objectsDir: path.join(dir, 'objects'), stagingDir: staging })));
    expect((await readdir(path.join(dir, 'staging'))).sort()).toEqual([expect.stringMatching(/^objects-w\d+$/), expect.stringMatching(/^objects-w\d+$/)]);
    await pool.close();
    expect(await readdir(path.join(dir, 'staging'))).toEqual([]);
    await expect(pool.run('hash', { file: path.join(dir, 'f') })).resolves.toMatchObject({ size: 3 });
  });

  it('never holds the process open once its tasks are answered, also when one worker was never used or a task failed', async () => {
    // In a process of its own: what is measured is whether that process ends by itself.
    const pool = path.resolve(import.meta.dirname, '../../../src/adapters/storage/fs-worker-pool.ts');
    for (const dirToList of [dir, path.join(dir, 'no-such-folder')]) {
      const script = `import { FsWorkerPool } from ${JSON.stringify(pool)}; await new FsWorkerPool({ size: 2 }).run('list', { dir: ${JSON.stringify(dirToList)} }).then(() => console.log('listed'), (e) => console.log(e.code));`;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
      clearTimeout(killer);
      expect({ code, signal, out: out.trim() }).toEqual({ code: 0, signal: null, out: dirToList === dir ? 'listed' : 'ENOENT' });
    }
  }, 60_000);
});
