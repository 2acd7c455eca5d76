import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import type { BackupManifest } from '../../src/backup/manifest.ts';
import { dr } from '../helpers/cli.ts';
import { sandboxEnv, tempSandbox } from '../helpers/sandbox.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('document snapshots (local uploads → local repository)', () => {
  let sandbox: Sandbox;
  let env: Record<string, string>;
  const manifestOf = async (stdout: string) => {
    const id = /storage snapshot (storage-\S+):/.exec(stdout)![1]!;
    return JSON.parse(await readFile(path.join(sandbox.dir, 'backups', 'manifests', `${id}.json`), 'utf8')) as BackupManifest;
  };
  const objectPath = (sha256: string) => path.join(sandbox.dir, 'backups', 'objects', sha256.slice(0, 2), sha256);

  beforeAll(async () => {
    sandbox = await tempSandbox({ documents: 200 });
    env = sandboxEnv(sandbox);
  });
  afterAll(async () => sandbox?.destroy());

  it('stores every file once, by SHA-256, and checks each against the DMS checksum', async () => {
    const { code, stdout } = await dr(['backup', 'storage'], env);
    expect(code).toBe(0);
    const manifest = await manifestOf(stdout);
    expect(manifest.documents).toHaveLength(200);
    expect(manifest.verification).toMatchObject({ integrity: 'ok', checksum_mismatches: [], missing: [], copied: { files: 200, reused: 0 } });
    for (const doc of manifest.documents!.slice(0, 20)) {
      expect(doc.checksum).toBe('ok');
      const stored = await readFile(objectPath(doc.sha256));
      expect(createHash('sha256').update(stored).digest('hex')).toBe(doc.sha256);
      expect(stored.equals(await readFile(path.join(sandbox.uploadsDir, doc.path)))).toBe(true);
    }
  });

  it('copies only the changed files the second time (1 %), recognising the rest by size and mtime', async () => {
    const files = (await readdir(sandbox.uploadsDir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
    const changed = files.slice(0, 2).map((e) => path.join(e.parentPath, e.name));
    for (const file of changed) await writeFile(file, `new content of ${path.basename(file)} ${Date.now()}`);
    const { code, stdout } = await dr(['backup', 'storage'], env);
    const manifest = await manifestOf(stdout);
    expect(manifest.verification.copied).toMatchObject({ files: 2, reused: 198 });
    // The changed files no longer match the checksums the DMS recorded: reported, never passed as good.
    const names = changed.map((f) => path.relative(sandbox.uploadsDir, f)).sort();
    expect(manifest.verification.checksum_mismatches).toEqual(names);
    expect(manifest.verification.integrity).toBe('2 checksum mismatches');
    for (const name of names) expect(stdout).toContain(`checksum mismatch (kept as evidence, not as good): ${name}`);
    // Not verified, in the manifest and in the catalog, and the command says something is wrong.
    expect(manifest.verified).toBe(false);
    expect(stdout).toContain(`storage snapshot ${manifest.id}: NOT verified`);
    expect(code).toBe(1);
    const listed = await dr(['backups', 'storage', '--json'], env);
    expect((JSON.parse(listed.stdout) as { rows: Array<{ id: string; verified: boolean }> }).rows.find((r) => r.id === manifest.id)?.verified).toBe(false);
  });

  it('does not store content twice, even under a new name', async () => {
    const [first] = (await readdir(sandbox.uploadsDir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile() && e.name.startsWith('doc-'));
    const copy = path.join(sandbox.uploadsDir, 'duplicate-of-first');
    await writeFile(copy, await readFile(path.join(first!.parentPath, first!.name)));
    const objectsBefore = await countObjects(sandbox);
    const { stdout } = await dr(['backup', 'storage'], env);
    const manifest = await manifestOf(stdout);
    expect(manifest.verification.copied).toMatchObject({ files: 1, bytes: 0 });
    expect(await countObjects(sandbox)).toBe(objectsBefore);
    await rm(copy);
  });

  it('names files the DMS lists but the storage lost', async () => {
    const [victim] = (await readdir(sandbox.uploadsDir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile() && e.name.startsWith('doc-'));
    const relative = path.relative(sandbox.uploadsDir, path.join(victim!.parentPath, victim!.name));
    await rm(path.join(sandbox.uploadsDir, relative));
    const { stdout } = await dr(['backup', 'storage'], env);
    const manifest = await manifestOf(stdout);
    expect(manifest.verification.missing).toEqual([relative]);
    expect(stdout).toContain(`listed in the DMS but missing from storage: ${relative}`);
  });

  it('re-reads a touched but unchanged file and finds its object already stored', async () => {
    const [file] = (await readdir(sandbox.uploadsDir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile() && e.name.startsWith('doc-'));
    await utimes(path.join(file!.parentPath, file!.name), new Date(), new Date());
    const { stdout } = await dr(['backup', 'storage'], env);
    expect((await manifestOf(stdout)).verification.copied).toMatchObject({ files: 1, bytes: 0 });
  });
});

async function countObjects(sandbox: Sandbox): Promise<number> {
  const entries = await readdir(path.join(sandbox.dir, 'backups', 'objects'), { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).length;
}

describe('repository verification and catalog rebuild', () => {
  let sandbox: Sandbox;
  let env: Record<string, string>;
  beforeAll(async () => {
    sandbox = await tempSandbox({ documents: 30 });
    env = sandboxEnv(sandbox);
    for (const kind of ['db', 'storage', 'config']) expect((await dr(['backup', kind], env)).code).toBe(0);
  });
  afterAll(async () => sandbox?.destroy());

  it('passes an intact repository', async () => {
    const { code, stdout } = await dr(['backups', '--verify'], env);
    expect(code).toBe(0);
    expect(stdout).toMatch(/✅ Repository verified: \d+ files of 3 backups match their SHA-256\./);
  });

  it('names exactly the damaged backup and file after one flipped byte, and stops counting it', async () => {
    const dbFile = (await readdir(path.join(sandbox.dir, 'backups', 'db')))[0]!;
    const full = path.join(sandbox.dir, 'backups', 'db', dbFile);
    const bytes = await readFile(full);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    await writeFile(full, bytes);
    const { code, stdout } = await dr(['backups', '--verify'], env);
    expect(code).toBe(1);
    const id = dbFile.replace(/\.sqlite$/, '');
    expect(stdout).toContain('❌ Repository damaged: 1 of');
    expect(stdout).toMatch(new RegExp(`^   ${id}: db/${dbFile}: SHA-256 is [0-9a-f]{12}…, the manifest says [0-9a-f]{12}…$`, 'm'));
    expect(stdout).toMatch(new RegExp(`^${id}\\s.*UNVERIFIED`, 'm'));
    expect((await dr(['status'], env)).stdout).toContain('db: none');
  });

  it('names the documents whose object was damaged', async () => {
    const snapshotId = (await readdir(path.join(sandbox.dir, 'backups', 'manifests'))).find((n) => n.startsWith('storage-'))!.replace('.json', '');
    const manifest = JSON.parse(await readFile(path.join(sandbox.dir, 'backups', 'manifests', `${snapshotId}.json`), 'utf8')) as BackupManifest;
    const victim = manifest.documents![0]!;
    await writeFile(path.join(sandbox.dir, 'backups', 'objects', victim.sha256.slice(0, 2), victim.sha256), 'overwritten');
    const { stdout } = await dr(['backups', 'storage', '--verify'], env);
    expect(stdout).toContain(`${snapshotId}: ${victim.path} (object ${victim.sha256.slice(0, 12)}): SHA-256 is`);
  });

  it('rebuilds the catalog from the manifests after the bot’s state is lost', async () => {
    const lost = { ...env, DR_STATE: path.join(sandbox.dir, 'fresh-state.db') };
    // An empty catalog lists the repository's manifests instead, and says how to bring the catalog back.
    expect((await dr(['backups'], lost)).stdout).toMatch(/^⚠️ Listed from the repository's manifests\..*--rebuild/m);
    const { code, stdout } = await dr(['backups', '--rebuild'], lost);
    expect(code).toBe(0);
    expect(stdout).toContain('Catalog rebuilt from the repository: 3 backups.');
    expect(stdout.split('\n').filter((l) => /^(db|storage|config)-/.test(l))).toHaveLength(3);
  });
});

describe('a document snapshot killed half-way', () => {
  let sandbox: Sandbox;
  let env: Record<string, string>;
  beforeAll(async () => {
    sandbox = await tempSandbox({ documents: 4000 });
    env = sandboxEnv(sandbox);
  });
  afterAll(async () => sandbox?.destroy());

  it('leaves no snapshot after kill -9, and the next start removes its staging folders', async () => {
    const staging = path.join(sandbox.dir, 'backups', '.staging');
    const manifests = () => readdir(path.join(sandbox.dir, 'backups', 'manifests')).catch(() => [] as string[]);
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/dr.mjs'), 'backup', 'storage'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const deadline = Date.now() + 20_000;
    // Killed once the file-system workers have staged their first copies.
    while ((await readdir(staging).catch(() => [])).length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    child.kill('SIGKILL');
    await exited;
    expect((await readdir(staging)).length).toBeGreaterThan(0);
    expect(await manifests()).toEqual([]);
    const listing = await dr(['backups', 'storage'], env);
    expect(listing.stdout).toContain('No backups catalogued yet.');
    expect(await readdir(staging)).toEqual([]);
    // The objects it had stored stay (content-addressed, reused by the next snapshot); the next snapshot completes.
    const next = await dr(['backup', 'storage'], env);
    expect(next.code).toBe(0);
    expect(next.stdout).toMatch(/storage snapshot storage-\S+: 4000 files/);
  });
});
