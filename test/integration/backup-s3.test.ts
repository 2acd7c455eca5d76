import { readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { createS3Client } from '../../src/adapters/s3/client.ts';
import { dr } from '../helpers/cli.ts';
import { tempSandbox } from '../helpers/sandbox.ts';
import { startS3rver, type S3rverPeer } from '../helpers/s3rver.ts';

describe('backups into an S3 repository (s3rver over HTTP)', () => {
  let s3: S3rverPeer;
  let sandbox: Sandbox;
  let env: Record<string, string>;

  beforeAll(async () => {
    s3 = await startS3rver(['dr-backups', 'alphha-primary']);
    sandbox = await tempSandbox({ documents: 100, config: { backups: { repository: 's3://dr-backups/alphha', endpoint: s3.endpoint, region: 'us-east-1' } } });
    env = { DR_CONFIG: sandbox.configPath, DR_STATE: path.join(sandbox.dir, 'dr-state.db'), DR_BACKUP_KEY: 'k', ...s3.env };
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
    expect(code).toBe(0);
    // One file was changed on disk (and uploaded changed): it no longer matches the DMS's checksum.
    expect(stdout).toMatch(/storage snapshot storage-\S+: 100 files/);
    expect(stdout).toContain(`checksum mismatch (kept as evidence, not as good): ${path.relative(sandbox.uploadsDir, path.join(files[0]!.parentPath, files[0]!.name))}`);
    // /dr status probes the bucket with HeadBucket, and says plainly when it does not exist.
    expect((await dr(['status'], { ...env, DR_CONFIG: primary })).stdout).toMatch(/✅ Document storage\s+bucket alphha-primary reachable/);
    await writeFile(primary, (await readFile(primary, 'utf8')).replace('bucket: alphha-primary', 'bucket: no-such-bucket'));
    expect((await dr(['status'], { ...env, DR_CONFIG: primary })).stdout).toMatch(/❌ Document storage\s+HeadBucket no-such-bucket failed: no such bucket/);
  });

  it('fails a backup the store refuses (no such bucket) with S3’s reason, leaving no staged copy and no catalog entry', async () => {
    const elsewhere = path.join(sandbox.dir, 'dr-s3-missing.yml');
    await writeFile(elsewhere, (await readFile(sandbox.configPath, 'utf8')).replace('s3://dr-backups/alphha', 's3://no-such-bucket/alphha'));
    const state = path.join(sandbox.dir, 'dr-state-missing.db');
    const staging = path.join(tmpdir(), 'dr-bot-staging', 'no-such-bucket');
    for (const kind of ['db', 'config', 'storage']) {
      const { code, stdout } = await dr(['backup', kind], { ...env, DR_CONFIG: elsewhere, DR_STATE: state });
      expect(code).toBe(2);
      expect(stdout).toMatch(/NoSuchBucket|specified bucket does not exist/);
      expect(await readdir(staging).catch(() => [])).toEqual([]);
    }
    const listing = await dr(['backups'], { ...env, DR_CONFIG: elsewhere, DR_STATE: state });
    expect(listing.stdout).toContain('No backups catalogued yet.');
  });
});
