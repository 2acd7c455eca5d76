// Config archives built by hand, as an attacker who can write to the backup repository would: entries with
// `../`, absolute paths, links leading out, a device. A restore writes only under backups.config_paths,
// refuses the whole archive naming what is wrong, and never follows a link out.
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TarConfigArchiver } from '../../src/adapters/config/tar-config-archiver.ts';
import { DrError } from '../../src/domain/errors.ts';

interface Entry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'FIFO' | 'CharacterDevice';
  body?: string;
  linkpath?: string;
}

/** A tar.gz holding exactly these headers (tar's own Header class encodes them; nothing rewrites the paths). */
function hostileArchive(entries: Entry[]): Buffer {
  const blocks = entries.flatMap((entry) => {
    const type = entry.type ?? 'File';
    const data = Buffer.from(entry.body ?? '');
    const header = new tar.Header({ path: entry.path, type, size: type === 'File' ? data.length : 0, mode: type === 'Directory' ? 0o755 : 0o644, mtime: new Date(), ...(entry.linkpath ? { linkpath: entry.linkpath } : {}) });
    header.encode();
    return [header.block!, ...(type === 'File' ? [data, Buffer.alloc((512 - (data.length % 512)) % 512)] : [])];
  });
  return gzipSync(Buffer.concat([...blocks, Buffer.alloc(1024)]));
}

describe('config restore confined to backups.config_paths', () => {
  let dir: string;
  // The live system's layout as the archive sees it: a deployment folder whose .env and nginx/ are configured.
  let app: string;
  let outside: string;
  let configPaths: string[];
  let archiver: TarConfigArchiver;
  const rel = (p: string) => path.relative('/', p);
  const write = async (name: string, entries: Entry[]) => {
    const file = path.join(dir, name);
    const bytes = hostileArchive(entries);
    await writeFile(file, bytes);
    return { file, sha256: createHash('sha256').update(bytes).digest('hex') };
  };
  const refusal = async (promise: Promise<unknown>) => {
    const error = await promise.then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(DrError);
    return (error as DrError).userMessage;
  };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dr-confine-'));
    app = path.join(dir, 'app');
    outside = path.join(dir, 'outside');
    await mkdir(path.join(app, 'nginx'), { recursive: true });
    await mkdir(outside, { recursive: true });
    await writeFile(path.join(app, '.env'), 'SECRET_KEY=live\n');
    await writeFile(path.join(outside, 'victim'), 'untouched\n');
    configPaths = [path.join(app, '.env'), path.join(app, 'nginx')];
    archiver = new TarConfigArchiver(configPaths, undefined);
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('restores a well-formed archive (files, a folder, a link inside) under the configured paths', async () => {
    const archive = await write('good.tar.gz', [
      { path: rel(path.join(app, '.env')), body: 'SECRET_KEY=restored\n' },
      { path: `${rel(path.join(app, 'nginx'))}/`, type: 'Directory' },
      { path: rel(path.join(app, 'nginx', 'nginx.conf')), body: 'events {}\n' },
      { path: rel(path.join(app, 'nginx', 'current.conf')), type: 'SymbolicLink', linkpath: 'nginx.conf' },
    ]);
    const result = await archiver.restoreArchive(archive.file, '/', 'good', archive.sha256);
    expect(await readFile(path.join(app, '.env'), 'utf8')).toBe('SECRET_KEY=restored\n');
    expect(await readFile(path.join(app, 'nginx', 'nginx.conf'), 'utf8')).toBe('events {}\n');
    expect(await readlink(path.join(app, 'nginx', 'current.conf'))).toBe('nginx.conf');
    expect(result.restored.sort()).toEqual([path.join(app, '.env'), path.join(app, 'nginx', 'current.conf'), path.join(app, 'nginx', 'nginx.conf')].sort());
    expect(result.kept).toEqual([`${path.join(app, '.env')}.pre-good`]);
  });

  it('refuses ../, absolute, outside-the-config-paths, outward links and devices, naming each; writes nothing', async () => {
    const archive = await write('hostile.tar.gz', [
      { path: rel(path.join(app, '.env')), body: 'SECRET_KEY=attacker\n' },
      { path: `${rel(path.join(app, 'nginx'))}/../../outside/victim`, body: 'climbed\n' },
      { path: path.join(outside, 'victim'), body: 'absolute\n' },
      { path: rel(path.join(outside, 'planted')), body: 'not configured\n' },
      { path: rel(path.join(app, 'nginx', 'escape')), type: 'SymbolicLink', linkpath: '../../outside' },
      { path: rel(path.join(app, 'nginx', 'passwd')), type: 'SymbolicLink', linkpath: '/etc/passwd' },
      { path: rel(path.join(app, 'nginx', 'hard')), type: 'Link', linkpath: rel(path.join(outside, 'victim')) },
      { path: rel(path.join(app, 'nginx', 'pipe')), type: 'FIFO' },
    ]);
    const message = await refusal(archiver.restoreArchive(archive.file, '/', 'evil', archive.sha256));
    expect(message).toContain('nothing was restored');
    expect(message).toContain(`${rel(path.join(app, 'nginx'))}/../../outside/victim (climbs out with ..)`);
    expect(message).toContain(`${path.join(outside, 'victim')} (an absolute path)`);
    expect(message).toContain(`${rel(path.join(outside, 'planted'))} (not under backups.config_paths)`);
    expect(message).toContain(`${rel(path.join(app, 'nginx', 'escape'))} (a link to ../../outside, outside backups.config_paths)`);
    expect(message).toContain(`${rel(path.join(app, 'nginx', 'passwd'))} (a link to /etc/passwd, outside backups.config_paths)`);
    expect(message).toContain(`${rel(path.join(app, 'nginx', 'hard'))} (a link to ${rel(path.join(outside, 'victim'))}, outside backups.config_paths)`);
    expect(message).toContain(`${rel(path.join(app, 'nginx', 'pipe'))} (a FIFO, not a file or folder)`);
    // Not even the well-formed entry was written.
    expect(await readFile(path.join(app, '.env'), 'utf8')).toBe('SECRET_KEY=live\n');
    expect(await readFile(path.join(outside, 'victim'), 'utf8')).toBe('untouched\n');
    await expect(lstat(path.join(outside, 'planted'))).rejects.toThrow();
    await expect(lstat(path.join(app, 'nginx', 'escape'))).rejects.toThrow();
  });

  it('does not write through a link on disk that leads out of a configured folder', async () => {
    // Someone replaced a folder inside nginx/ with a link to elsewhere; the archive itself is well-formed.
    await symlink(outside, path.join(app, 'nginx', 'conf.d'));
    const archive = await write('through-link.tar.gz', [{ path: rel(path.join(app, 'nginx', 'conf.d', 'victim')), body: 'overwritten through a link\n' }]);
    const message = await refusal(archiver.restoreArchive(archive.file, '/', 'link', archive.sha256));
    expect(message).toContain(`nothing was restored: ${path.join(app, 'nginx', 'conf.d', 'victim')} (behind a symbolic link that leads out of ${path.join(app, 'nginx')})`);
    expect(await readFile(path.join(outside, 'victim'), 'utf8')).toBe('untouched\n');
  });

  it('replaces a link standing where a configured file belongs, without following it', async () => {
    await rm(path.join(app, '.env'));
    await symlink(path.join(outside, 'victim'), path.join(app, '.env'));
    const archive = await write('over-link.tar.gz', [{ path: rel(path.join(app, '.env')), body: 'SECRET_KEY=restored\n' }]);
    const result = await archiver.restoreArchive(archive.file, '/', 'over', archive.sha256);
    expect((await lstat(path.join(app, '.env'))).isFile()).toBe(true);
    expect(await readFile(path.join(app, '.env'), 'utf8')).toBe('SECRET_KEY=restored\n');
    expect(await readFile(path.join(outside, 'victim'), 'utf8')).toBe('untouched\n');
    // The link itself is kept aside, as any replaced file is.
    expect(result.kept).toEqual([`${path.join(app, '.env')}.pre-over`]);
    expect(await readlink(`${path.join(app, '.env')}.pre-over`)).toBe(path.join(outside, 'victim'));
  });

  it('checks the SHA-256 from the manifest before extracting anything', async () => {
    const archive = await write('swapped.tar.gz', [{ path: rel(path.join(app, '.env')), body: 'SECRET_KEY=swapped\n' }]);
    const message = await refusal(archiver.restoreArchive(archive.file, '/', 'sha', 'f'.repeat(64)));
    expect(message).toMatch(/not the one its manifest describes \(SHA-256 [0-9a-f]{12}…, the manifest says ffffffffffff…\); nothing was restored/);
    expect(await readFile(path.join(app, '.env'), 'utf8')).toBe('SECRET_KEY=live\n');
  });
});
