import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { DatabaseDocumentChecksums } from '../../src/adapters/dms/document-checksums.ts';
import { LocalBackupRepository } from '../../src/adapters/repository/local-backup-repository.ts';
import { S3BackupRepository } from '../../src/adapters/repository/s3-backup-repository.ts';
import { createS3Client } from '../../src/adapters/s3/client.ts';
import { openStateStore } from '../../src/adapters/state/kysely-store.ts';
import { LocalDocumentHasher } from '../../src/adapters/storage/local-document-hasher.ts';
import { LocalDocumentSource } from '../../src/adapters/storage/local-document-source.ts';
import { LocalDocumentWriter } from '../../src/adapters/storage/local-document-writer.ts';
import { StreamingDocumentHasher } from '../../src/adapters/storage/s3-document-hasher.ts';
import { S3DocumentSource } from '../../src/adapters/storage/s3-document-source.ts';
import { S3DocumentWriter } from '../../src/adapters/storage/s3-document-writer.ts';
import type { BackupManifest } from '../../src/backup/manifest.ts';
import type { DocumentSource } from '../../src/ports/dms.ts';
import type { StateStore } from '../../src/ports/state-store.ts';
import { backupStorage } from '../../src/procedures/backup-storage.ts';
import { planStorageRepair, writeBackDocuments } from '../../src/procedures/restore-storage.ts';
import { verifyChecksums } from '../../src/procedures/verify-checksums.ts';
import { tempSandbox } from '../helpers/sandbox.ts';
import { startS3rver, type S3rverPeer } from '../helpers/s3rver.ts';

const sha256Of = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

function flipByte(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  copy[Math.floor(copy.length / 2)]! ^= 0x01;
  return copy;
}

/** Every file under a folder, relative, with `/` separators, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/')).sort();
}

/** Snapshots the storage with the real procedure. */
function snapshot(sandbox: Sandbox, source: DocumentSource, repository: LocalBackupRepository | S3BackupRepository, store: StateStore): Promise<BackupManifest> {
  return backupStorage({ source, checksums: new DatabaseDocumentChecksums(sandbox.databaseUrl), repository, store, timeoutMs: 60_000, now: () => new Date(), botVersion: 'test' });
}

describe('restore storage: local uploads folder from a local repository', () => {
  let sandbox: Sandbox;
  let store: StateStore;
  let repository: LocalBackupRepository;
  let manifest: BackupManifest;
  let writer: LocalDocumentWriter;
  let hasher: LocalDocumentHasher;
  const uploads = () => sandbox.uploadsDir;
  const checkDeps = () => ({ checksums: new DatabaseDocumentChecksums(sandbox.databaseUrl), hasher, concurrency: 8 });

  beforeAll(async () => {
    sandbox = await tempSandbox({ documents: 40 });
    store = await openStateStore(path.join(sandbox.dir, 'dr-state.db'));
    repository = new LocalBackupRepository(path.join(sandbox.dir, 'backups'));
    manifest = await snapshot(sandbox, new LocalDocumentSource(sandbox.uploadsDir), repository, store);
    writer = new LocalDocumentWriter(sandbox.uploadsDir);
    hasher = new LocalDocumentHasher(sandbox.uploadsDir);
  });
  afterAll(async () => {
    await hasher?.close();
    await store?.close();
    await sandbox?.destroy();
  });

  it('rewrites exactly the deleted and the damaged documents, leaves the rest untouched, and then every checksum matches', async () => {
    const files = await filesUnder(uploads());
    const deleted = [files[1]!, files[7]!, files[20]!];
    const damaged = [files[3]!, files[11]!, files[30]!];
    for (const file of deleted) await rm(path.join(uploads(), file));
    // Damaged in place, as a failing disk would: same inode, new bytes.
    for (const file of damaged) await writeFile(path.join(uploads(), file), flipByte(await readFile(path.join(uploads(), file))));
    const before = new Map(await Promise.all(files.filter((f) => !deleted.includes(f)).map(async (f) => [f, await stat(path.join(uploads(), f))] as const)));

    const plan = await planStorageRepair(checkDeps(), [manifest]);
    expect(plan.checked).toBe(40);
    expect(plan.unrecoverable).toEqual([]);
    expect(plan.toRestore.map((d) => d.path).sort()).toEqual([...deleted, ...damaged].sort());
    expect(plan.toRestore.filter((d) => d.problem === 'missing').map((d) => d.path).sort()).toEqual(deleted);
    const report = await writeBackDocuments({ repository, writer, concurrency: 4 }, plan.toRestore);
    expect(report.failed).toEqual([]);
    expect(report.written).toBe(6);

    for (const [file, was] of before) {
      const now = await stat(path.join(uploads(), file));
      if (damaged.includes(file)) expect(now.ino).not.toBe(was.ino);
      else expect({ ino: now.ino, mtimeMs: now.mtimeMs }).toEqual({ ino: was.ino, mtimeMs: was.mtimeMs });
    }
    expect(await filesUnder(uploads())).toEqual(files);
    expect((await verifyChecksums(checkDeps())).problems).toEqual([]);
  });

  it('refuses the bytes of a corrupt object: reported as failed, nothing written', async () => {
    const victim = manifest.documents![5]!;
    await rm(path.join(uploads(), victim.path));
    const object = path.join(sandbox.dir, 'backups', 'objects', victim.sha256.slice(0, 2), victim.sha256);
    const intact = await readFile(object);
    await writeFile(object, flipByte(intact));
    try {
      const plan = await planStorageRepair(checkDeps(), [manifest]);
      expect(plan.toRestore.map((d) => d.path)).toEqual([victim.path]);
      const report = await writeBackDocuments({ repository, writer, concurrency: 4 }, plan.toRestore);
      expect(report.written).toBe(0);
      expect(report.failed).toEqual([
        { id: plan.toRestore[0]!.id, path: victim.path, reason: 'the snapshot object does not hold the recorded content', detail: expect.stringMatching(new RegExp(`^content for ${victim.path} has SHA-256 [0-9a-f]{12}… \\(\\d+ B\\), expected ${victim.sha256.slice(0, 12)}… \\(\\d+ B\\); not written$`)) },
      ]);
      // Neither the document nor a temp file of it appeared.
      expect((await filesUnder(uploads())).filter((f) => f.startsWith(path.posix.dirname(victim.path)) && f.includes(path.posix.basename(victim.path)))).toEqual([]);
    } finally {
      await writeFile(object, intact);
      await writer.write(victim.path, await repository.openObject(victim.sha256), { sha256: victim.sha256, sizeBytes: victim.size_bytes });
    }
  });

  it('refuses paths that leave the uploads folder, by .., absolutely, or through a symlinked folder', async () => {
    const outside = await mkdtemp(path.join(tmpdir(), 'dr-outside-'));
    try {
      await symlink(outside, path.join(uploads(), 'linked'));
      const content = Buffer.from('escape');
      const expected = { sha256: sha256Of(content), sizeBytes: content.length };
      for (const [target, message] of [
        ['../escaped.pdf', /^path escapes the uploads folder: \.\.\/escaped\.pdf$/],
        ['tenant-1/../../escaped.pdf', /^path escapes the uploads folder/],
        [path.join(outside, 'absolute.pdf'), /^path escapes the uploads folder/],
        ['linked/inside-the-link.pdf', /^path escapes the uploads folder through a symlink: linked$/],
        ['linked/new-folder/deeper.pdf', /^path escapes the uploads folder through a symlink: linked$/],
      ] as const) {
        const stream = Readable.from([content]);
        await expect(writer.write(target, stream, expected)).rejects.toThrow(message);
        // The writer owns the stream: released, not left open.
        expect(stream.destroyed).toBe(true);
      }
      expect(await readdir(outside)).toEqual([]);
      expect(await readdir(path.dirname(uploads()))).not.toContain('escaped.pdf');
    } finally {
      await rm(path.join(uploads(), 'linked'), { force: true });
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('writes into folders that are gone, and keeps the mode of a file it replaces', async () => {
    const doc = manifest.documents![0]!;
    const file = path.join(uploads(), doc.path);
    await writeFile(file, 'damaged');
    await chmod(file, 0o640);
    await writer.write(doc.path, await repository.openObject(doc.sha256), { sha256: doc.sha256, sizeBytes: doc.size_bytes });
    expect((await stat(file)).mode & 0o777).toBe(0o640);
    expect(sha256Of(await readFile(file))).toBe(doc.sha256);

    await writer.write('restored/new/deep.pdf', Readable.from([Buffer.from('x')]), { sha256: sha256Of(Buffer.from('x')), sizeBytes: 1 });
    expect(await readFile(path.join(uploads(), 'restored/new/deep.pdf'), 'utf8')).toBe('x');
    await rm(path.join(uploads(), 'restored'), { recursive: true });
  });

  it('hands out stored files as their own path and objects as streams; what is not stored is ENOENT', async () => {
    const staged = await repository.stage('dump.sqlite');
    await writeFile(staged, 'a database dump');
    await repository.commit(staged, 'db/restore-test.sqlite');
    const local = await repository.localFile('db/restore-test.sqlite');
    expect(local.path).toBe(path.join(sandbox.dir, 'backups', 'db', 'restore-test.sqlite'));
    await local.release();
    expect(await readFile(local.path, 'utf8')).toBe('a database dump');
    await expect(repository.localFile('db/none.sqlite')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(repository.localFile('../outside')).rejects.toThrow(/escapes the repository/);

    const doc = manifest.documents![2]!;
    const chunks: Buffer[] = [];
    for await (const chunk of (await repository.openObject(doc.sha256)) as AsyncIterable<Buffer>) chunks.push(chunk);
    expect(Buffer.concat(chunks).equals(await readFile(path.join(uploads(), doc.path)))).toBe(true);
    await expect(repository.openObject('0'.repeat(64))).rejects.toMatchObject({ code: 'ENOENT', message: expect.stringContaining(`object ${'0'.repeat(64)} is not in the repository`) });
  });
});

describe('restore storage: S3 primary bucket from an S3 repository (s3rver)', () => {
  const PRIMARY = 'alphha-primary';
  let s3: S3rverPeer;
  let sandbox: Sandbox;
  let store: StateStore;
  let client: S3Client;
  let repository: S3BackupRepository;
  let source: S3DocumentSource;
  let writer: S3DocumentWriter;
  let manifest: BackupManifest;
  const checkDeps = () => ({ checksums: new DatabaseDocumentChecksums(sandbox.databaseUrl), hasher: new StreamingDocumentHasher(source), concurrency: 8 });
  const bodyOf = async (bucket: string, key: string) => Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
  const exists = (bucket: string, key: string) =>
    client.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(
      () => true,
      (error: { $metadata?: { httpStatusCode?: number } }) => {
        if (error.$metadata?.httpStatusCode === 404) return false;
        throw error;
      },
    );
  const listing = async () => {
    const page = await client.send(new ListObjectsV2Command({ Bucket: PRIMARY }));
    return new Map((page.Contents ?? []).map((o) => [o.Key!, { lastModified: o.LastModified?.toISOString(), etag: o.ETag }]));
  };

  beforeAll(async () => {
    s3 = await startS3rver(['dr-backups', PRIMARY]);
    Object.assign(process.env, s3.env);
    sandbox = await tempSandbox({ documents: 30 });
    client = createS3Client({ region: 'us-east-1', endpoint: s3.endpoint });
    for (const key of await filesUnder(sandbox.uploadsDir)) {
      await client.send(new PutObjectCommand({ Bucket: PRIMARY, Key: key, Body: await readFile(path.join(sandbox.uploadsDir, key)) }));
    }
    store = await openStateStore(path.join(sandbox.dir, 'dr-state.db'));
    repository = new S3BackupRepository(client, 'dr-backups', 'alphha');
    source = new S3DocumentSource(client, PRIMARY);
    writer = new S3DocumentWriter(client, PRIMARY);
    manifest = await snapshot(sandbox, source, repository, store);
  });
  afterAll(async () => {
    for (const name of Object.keys(s3?.env ?? {})) delete process.env[name];
    client?.destroy();
    await store?.close();
    await sandbox?.destroy();
    await s3?.close();
  });

  it('rewrites exactly the deleted and the damaged objects, leaves the rest untouched, and then every checksum matches', async () => {
    const keys = [...(await listing()).keys()].sort();
    const deleted = [keys[2]!, keys[9]!];
    const damaged = [keys[4]!, keys[17]!];
    for (const key of deleted) await client.send(new DeleteObjectCommand({ Bucket: PRIMARY, Key: key }));
    for (const key of damaged) await client.send(new PutObjectCommand({ Bucket: PRIMARY, Key: key, Body: flipByte(await bodyOf(PRIMARY, key)) }));
    const before = await listing();
    // s3rver's LastModified has one-second resolution: a rewrite must land in a later second to be seen.
    await new Promise((resolve) => setTimeout(resolve, 1_100));

    const plan = await planStorageRepair(checkDeps(), [manifest]);
    expect(plan.unrecoverable).toEqual([]);
    expect(plan.toRestore.map((d) => d.path).sort()).toEqual([...deleted, ...damaged].sort());
    const report = await writeBackDocuments({ repository, writer, concurrency: 4 }, plan.toRestore);
    expect(report).toMatchObject({ written: 4, failed: [] });

    const after = await listing();
    expect([...after.keys()].sort()).toEqual(keys);
    for (const [key, was] of before) {
      if (damaged.includes(key)) expect(after.get(key)!.lastModified).not.toBe(was.lastModified);
      else expect(after.get(key)).toEqual(was);
    }
    expect((await verifyChecksums(checkDeps())).problems).toEqual([]);
  });

  it('refuses the bytes of a corrupt object in the repository: reported as failed, nothing written', async () => {
    const victim = manifest.documents![6]!;
    await client.send(new DeleteObjectCommand({ Bucket: PRIMARY, Key: victim.path }));
    const objectKey = `alphha/objects/${victim.sha256.slice(0, 2)}/${victim.sha256}`;
    const intact = await bodyOf('dr-backups', objectKey);
    await client.send(new PutObjectCommand({ Bucket: 'dr-backups', Key: objectKey, Body: flipByte(intact) }));
    try {
      const plan = await planStorageRepair(checkDeps(), [manifest]);
      expect(plan.toRestore.map((d) => d.path)).toEqual([victim.path]);
      const report = await writeBackDocuments({ repository, writer, concurrency: 4 }, plan.toRestore);
      expect(report.written).toBe(0);
      expect(report.failed).toEqual([{ id: plan.toRestore[0]!.id, path: victim.path, reason: 'the snapshot object does not hold the recorded content', detail: expect.stringMatching(/has SHA-256 [0-9a-f]{12}… \(\d+ B\), expected .*; not written$/) }]);
      expect(await exists(PRIMARY, victim.path)).toBe(false);
    } finally {
      await client.send(new PutObjectCommand({ Bucket: 'dr-backups', Key: objectKey, Body: intact }));
      await writer.write(victim.path, await repository.openObject(victim.sha256), { sha256: victim.sha256, sizeBytes: victim.size_bytes });
    }
  });

  it('writes a large document as a multipart upload, and never completes one whose bytes are wrong', async () => {
    const big = randomBytes(11 * 1024 * 1024);
    await writer.write('large/ok.bin', Readable.from([big]), { sha256: sha256Of(big), sizeBytes: big.length });
    expect((await bodyOf(PRIMARY, 'large/ok.bin')).equals(big)).toBe(true);

    const wrong = flipByte(big);
    await expect(writer.write('large/bad.bin', Readable.from([wrong]), { sha256: sha256Of(big), sizeBytes: big.length })).rejects.toThrow(/^content for large\/bad\.bin has SHA-256/);
    await expect(writer.write('large/long.bin', Readable.from([big, Buffer.from('!')]), { sha256: sha256Of(big), sizeBytes: big.length })).rejects.toThrow(/is longer than the expected/);
    expect(await exists(PRIMARY, 'large/bad.bin')).toBe(false);
    expect(await exists(PRIMARY, 'large/long.bin')).toBe(false);
    await client.send(new DeleteObjectCommand({ Bucket: PRIMARY, Key: 'large/ok.bin' }));
  });

  it('downloads a stored file into staging for tools that need a seekable file; release removes it', async () => {
    const staged = await repository.stage('dump.sqlite');
    await writeFile(staged, 'a database dump');
    await repository.commit(staged, 'db/restore-test.sqlite');
    const local = await repository.localFile('db/restore-test.sqlite');
    expect(local.path.startsWith(path.join(tmpdir(), 'dr-bot-staging'))).toBe(true);
    expect(path.basename(local.path)).toMatch(/-restore-test\.sqlite$/);
    expect(await readFile(local.path, 'utf8')).toBe('a database dump');
    await local.release();
    await expect(stat(local.path)).rejects.toMatchObject({ code: 'ENOENT' });
    const stagingBefore = await readdir(path.dirname(local.path));
    await expect(repository.localFile('db/none.sqlite')).rejects.toMatchObject({ code: 'ENOENT', message: 'db/none.sqlite is not in the repository s3://dr-backups/alphha' });
    // A failed download leaves nothing in staging.
    expect(await readdir(path.dirname(local.path))).toEqual(stagingBefore);

    const doc = manifest.documents![0]!;
    const chunks: Buffer[] = [];
    for await (const chunk of (await repository.openObject(doc.sha256)) as AsyncIterable<Buffer>) chunks.push(chunk);
    expect(sha256Of(Buffer.concat(chunks))).toBe(doc.sha256);
    await expect(repository.openObject('0'.repeat(64))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
