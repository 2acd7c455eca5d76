import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { once, type EventEmitter } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import type { BackupManifest } from '../../src/backup/manifest.ts';
import { postgresAvailable, scratchDatabase } from '../helpers/pg.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { createS3Client } from '../../src/adapters/s3/client.ts';
import { S3BackupRepository } from '../../src/adapters/repository/s3-backup-repository.ts';
import { dr } from '../helpers/cli.ts';
import { sandboxEnv, tempSandbox } from '../helpers/sandbox.ts';
import { startS3rver, type S3rverPeer } from '../helpers/s3rver.ts';

const run = promisify(execFile);

describe('backups into an S3 repository (s3rver over HTTP)', () => {
  let s3: S3rverPeer;
  let sandbox: Sandbox;
  let env: Record<string, string>;

  beforeAll(async () => {
    s3 = await startS3rver(['dr-backups', 'alphha-primary']);
    sandbox = await tempSandbox({ documents: 100, config: { backups: { repository: 's3://dr-backups/alphha', endpoint: s3.endpoint, region: 'us-east-1' } } });
    env = { ...sandboxEnv(sandbox), DR_BACKUP_KEY: 'k', ...s3.env };
    // The test's own S3 client (to tamper and to seed the primary bucket) uses the same dummy credentials.
    Object.assign(process.env, s3.env);
  });
  afterAll(async () => {
    for (const name of Object.keys(s3?.env ?? {})) delete process.env[name];
    await sandbox?.destroy();
    await s3?.close();
  });

  it('stores db, storage and config backups, verifies them, and status reads them back', async () => {
    const { code, stdout } = await dr(['backup', 'all'], env);
    expect(code).toBe(0);
    expect(stdout).toMatch(/✅ db backup db-\S+: .*verified/);
    expect(stdout).toMatch(/✅ storage snapshot storage-\S+: 100 files/);
    expect(stdout).toMatch(/✅ config backup config-\S+: .*encrypted/);
    const verify = await dr(['backups', '--verify'], env);
    expect(verify.stdout).toMatch(/✅ Repository verified: \d+ files of 3 backups match their SHA-256\./);
    const status = await dr(['status'], env);
    expect(status.stdout).toMatch(/Backups\s+RPO exposure/);
    expect(status.stdout).toContain('repository: s3://dr-backups/alphha');
  });

  it('copies only the changed 1 % on the next snapshot', async () => {
    const files = (await readdir(sandbox.uploadsDir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
    await writeFile(path.join(files[0]!.parentPath, files[0]!.name), 'changed content');
    const { stdout } = await dr(['backup', 'storage'], env);
    expect(stdout).toMatch(/copied 1 \(15 B new\), reused 99 unchanged/);
  });

  it('names a damaged object in the bucket exactly', async () => {
    const client = createS3Client({ region: 'us-east-1', endpoint: s3.endpoint });
    const listing = await dr(['backups', 'storage'], env);
    const snapshot = /^(storage-\S+)/m.exec(listing.stdout)![1]!;
    const { GetObjectCommand } = await import('@aws-sdk/client-s3');
    const manifestObject = await client.send(new GetObjectCommand({ Bucket: 'dr-backups', Key: `alphha/manifests/${snapshot}.json` }));
    const manifest = JSON.parse(await manifestObject.Body!.transformToString()) as { documents: Array<{ path: string; sha256: string }> };
    const victim = manifest.documents.find((d) => d.path !== 'tenant-1/doc-0001.pdf')!;
    await client.send(new PutObjectCommand({ Bucket: 'dr-backups', Key: `alphha/objects/${victim.sha256.slice(0, 2)}/${victim.sha256}`, Body: 'tampered' }));
    const { code, stdout } = await dr(['backups', 'storage', '--verify'], env);
    expect(code).toBe(1);
    expect(stdout).toContain(`${snapshot}: ${victim.path} (object ${victim.sha256.slice(0, 12)}): SHA-256 is`);
  });

  it('snapshots an S3 primary bucket, checking every object against the DMS checksums', async () => {
    const client = createS3Client({ region: 'us-east-1', endpoint: s3.endpoint });
    const files = (await readdir(sandbox.uploadsDir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
    for (const file of files) {
      const key = path.relative(sandbox.uploadsDir, path.join(file.parentPath, file.name));
      await client.send(new PutObjectCommand({ Bucket: 'alphha-primary', Key: key, Body: await readFile(path.join(file.parentPath, file.name)) }));
    }
    const primary = path.join(sandbox.dir, 'dr-s3-primary.yml');
    const original = await readFile(sandbox.configPath, 'utf8');
    await writeFile(primary, original.replace(/storage:\n\s+kind: local\n\s+path: .*\n/, `storage:\n  kind: s3\n  bucket: alphha-primary\n  region: us-east-1\n  endpoint: ${s3.endpoint}\n  force_path_style: true\n`));
    const { code, stdout } = await dr(['backup', 'storage'], { ...env, DR_CONFIG: primary });
    // One file was changed on disk (and uploaded changed): it no longer matches the DMS's checksum, so the
    // snapshot is kept but not verified, and the command exits 1.
    expect(code).toBe(1);
    expect(stdout).toMatch(/storage snapshot storage-\S+: NOT verified [^;]*; 100 files/);
    expect(stdout).toContain(`checksum mismatch (kept as evidence, not as good): ${path.relative(sandbox.uploadsDir, path.join(files[0]!.parentPath, files[0]!.name))}`);
    // /dr status probes the bucket with HeadBucket, and says plainly when it does not exist, and which bucket it is.
    const reachable = await dr(['status'], { ...env, DR_CONFIG: primary });
    expect(reachable.stdout).toMatch(/✅ Document storage\s+bucket alphha-primary reachable/);
    // The AWS SDK's Node-version notice is not the operator's business on every call.
    expect(reachable.stderr).not.toMatch(/NodeVersionSupportWarning|AWS SDK for JavaScript/);
    await writeFile(primary, (await readFile(primary, 'utf8')).replace('bucket: alphha-primary', 'bucket: no-such-bucket'));
    expect((await dr(['status'], { ...env, DR_CONFIG: primary })).stdout).toMatch(/❌ Document storage\s+The documents bucket "no-such-bucket" does not exist/);
  });

  it('fails a multipart upload the store refuses while the producer is still writing, instead of leaving it blocked', async () => {
    const repository = new S3BackupRepository(createS3Client({ region: 'us-east-1', endpoint: s3.endpoint }), 'no-such-bucket', 'alphha');
    let written = 0;
    const producing = repository.upload(
      'db/big.dump',
      async (out) => {
        const chunk = Buffer.alloc(1024 * 1024, 7);
        for (let i = 0; i < 64; i += 1) {
          written += chunk.length;
          if (!out.write(chunk)) await once(out as unknown as EventEmitter, 'drain');
        }
      },
      AbortSignal.timeout(60_000),
    );
    await expect(producing).rejects.toThrow(/NoSuchBucket|specified bucket does not exist/);
    // It stopped well before the 64 MiB were produced: the failure reached the producer.
    expect(written).toBeLessThan(64 * 1024 * 1024);
  });

  it('leaves nothing under the key when the producer fails after its bytes went up', async () => {
    const repository = new S3BackupRepository(createS3Client({ region: 'us-east-1', endpoint: s3.endpoint }), 'dr-backups', 'alphha');
    await expect(
      repository.upload(
        'db/truncated.dump',
        async (out) => {
          out.write(Buffer.alloc(100_000, 1));
          // Even a producer that ends the body before failing (a small upload then goes up at once).
          out.end();
          await new Promise((resolve) => setTimeout(resolve, 50));
          throw new Error('pg_dump exited with 1');
        },
        AbortSignal.timeout(60_000),
      ),
    ).rejects.toThrow('pg_dump exited with 1');
    const client = createS3Client({ region: 'us-east-1', endpoint: s3.endpoint });
    await expect(client.send(new HeadObjectCommand({ Bucket: 'dr-backups', Key: 'alphha/db/truncated.dump' }))).rejects.toMatchObject({ name: 'NotFound' });
  });

  it('fails a backup the store refuses (no such bucket) with S3’s reason, leaving no staged copy and no catalog entry', async () => {
    const elsewhere = path.join(sandbox.dir, 'dr-s3-missing.yml');
    await writeFile(elsewhere, (await readFile(sandbox.configPath, 'utf8')).replace('s3://dr-backups/alphha', 's3://no-such-bucket/alphha'));
    const state = path.join(sandbox.dir, 'dr-state-missing.db');
    const staging = path.join(tmpdir(), 'dr-bot-staging', 'no-such-bucket');
    for (const kind of ['db', 'config', 'storage']) {
      const { code, stderr } = await dr(['backup', kind], { ...env, DR_CONFIG: elsewhere, DR_STATE: state });
      expect(code).toBe(2);
      expect(stderr).toMatch(/NoSuchBucket|specified bucket does not exist/);
      expect(await readdir(staging).catch(() => [])).toEqual([]);
    }
    const listing = await dr(['backups'], { ...env, DR_CONFIG: elsewhere, DR_STATE: state });
    expect(listing.stdout).toContain('No backups catalogued yet.');
    // Four CLI processes, three of which make their scrypt header (DR_BACKUP_KEY is set) before S3 refuses.
  }, 120_000);
});

describe.skipIf(!(await postgresAvailable()))('a PostgreSQL dump into an S3 repository', () => {
  let s3: S3rverPeer;
  let sandbox: Sandbox;
  let env: Record<string, string>;

  beforeAll(async () => {
    s3 = await startS3rver(['dr-pg-backups']);
    sandbox = await tempSandbox({ database: 'postgres', config: { backups: { repository: 's3://dr-pg-backups/alphha', endpoint: s3.endpoint, region: 'us-east-1' } } });
    env = { ...sandboxEnv(sandbox), ...s3.env };
    Object.assign(process.env, s3.env);
  });
  const blockedStaging = path.join(tmpdir(), 'dr-bot-staging', 'dr-pg-backups');
  afterAll(async () => {
    for (const name of Object.keys(s3?.env ?? {})) delete process.env[name];
    await rm(blockedStaging, { force: true });
    await sandbox?.destroy();
    await s3?.close();
  });

  it('uploads pg_dump’s output as it streams, with no local copy, and it restores with the recorded counts', async () => {
    // This bucket's local staging folder cannot be made (a file is in its place): any local copy of the dump would fail the backup.
    await mkdir(path.dirname(blockedStaging), { recursive: true });
    await writeFile(blockedStaging, '');
    const { code, stdout } = await dr(['backup', 'db'], env);
    expect(stdout).toMatch(/✅ db backup db-\S+: .*verified/);
    expect(code).toBe(0);
    // The same setting does stop a backup that needs a local file, so it is in force.
    const sqliteConfig = path.join(sandbox.dir, 'dr-sqlite.yml');
    await writeFile(sqliteConfig, (await readFile(sandbox.configPath, 'utf8')).replace(/url: postgres:\/\/\S+/, `url: sqlite:${path.join(sandbox.dir, 'scratch.db')}`));
    new Database(path.join(sandbox.dir, 'scratch.db')).close();
    expect((await dr(['backup', 'db'], { ...env, DR_CONFIG: sqliteConfig, DR_STATE: path.join(sandbox.dir, 'other-state.db') })).code).toBe(2);
    await rm(blockedStaging, { force: true });

    const client = createS3Client({ region: 'us-east-1', endpoint: s3.endpoint });
    const id = /db backup (db-\S+?):/.exec(stdout)![1]!;
    const manifest = JSON.parse(await (await client.send(new GetObjectCommand({ Bucket: 'dr-pg-backups', Key: `alphha/manifests/${id}.json` }))).Body!.transformToString()) as BackupManifest;
    expect(manifest).toMatchObject({ verified: true, verification: { integrity: 'ok', hashes_rechecked: true } });
    const object = await client.send(new GetObjectCommand({ Bucket: 'dr-pg-backups', Key: `alphha/${manifest.files[0]!.key}` }));
    const bytes = Buffer.from(await object.Body!.transformToByteArray());
    expect(bytes.length).toBe(manifest.files[0]!.size_bytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(manifest.files[0]!.sha256);
    const dump = path.join(sandbox.dir, 'downloaded.dump');
    await writeFile(dump, bytes);
    const target = await scratchDatabase('dr_s3_restore');
    try {
      await run('pg_restore', ['--no-owner', `--dbname=${target.url}`, dump]);
      const restored = new pg.Client({ connectionString: target.url });
      await restored.connect();
      const counts = (await restored.query('select (select count(*) from documents)::int as documents, (select count(*) from users)::int as users, (select count(*) from tenants)::int as tenants')).rows[0];
      await restored.end();
      expect(manifest.verification.counts).toEqual(counts);
    } finally {
      await target.drop();
    }
  });

  it('fails a streamed dump the store refuses with S3’s reason, leaving nothing stored or catalogued', async () => {
    const elsewhere = path.join(sandbox.dir, 'dr-pg-missing.yml');
    await writeFile(elsewhere, (await readFile(sandbox.configPath, 'utf8')).replace('s3://dr-pg-backups/alphha', 's3://no-such-bucket/alphha'));
    const state = path.join(sandbox.dir, 'dr-state-missing.db');
    const { code, stderr } = await dr(['backup', 'db'], { ...env, DR_CONFIG: elsewhere, DR_STATE: state });
    expect(code).toBe(2);
    expect(stderr).toMatch(/NoSuchBucket|specified bucket does not exist/);
    expect((await dr(['backups'], { ...env, DR_CONFIG: elsewhere, DR_STATE: state })).stdout).toContain('No backups catalogued yet.');
  });
});
