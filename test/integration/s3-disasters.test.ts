// S3 repository and S3 documents bucket on s3rver, driven through the CLI. Debian's awscli is the independent
// client: it checks what was stored (every object's SHA-256 is its name and the document's recorded checksum)
// and plays the disasters (deleted objects, an emptied repository prefix, a removed bucket, bad credentials).
import { cp, readFile, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { aws, awsCliAvailable, awsKeys, awsSha256s } from '../helpers/awscli.ts';
import { dr } from '../helpers/cli.ts';
import { sandboxEnv, tempSandbox } from '../helpers/sandbox.ts';
import { startS3rver, type S3rverPeer } from '../helpers/s3rver.ts';

// Each test runs the CLI several times (a process start each, seconds on a loaded 2-core machine).
const TEST_MS = 240_000;
const REPO = 'dr-backups';
const DOCS = 'alphha-docs';

/** file_path → checksum_sha256, as the sandbox DMS recorded them. */
function recordedChecksums(sandbox: Sandbox): Map<string, string> {
  const db = new Database(sandbox.databaseUrl.slice('sqlite:'.length), { readonly: true });
  try {
    return new Map((db.prepare('select file_path, checksum_sha256 from documents').all() as Array<{ file_path: string; checksum_sha256: string }>).map((r) => [r.file_path, r.checksum_sha256]));
  } finally {
    db.close();
  }
}

/** The object requests among what s3rver served, as `METHOD`s. */
function objectRequests(requests: readonly string[]): string[] {
  return requests.filter((r) => r.includes(`/${REPO}/alphha/objects/`)).map((r) => r.split(' ')[0]!);
}

/** The objects s3rver was sent a PUT for, as SHA-256s, once each however often. */
function objectsPut(requests: readonly string[]): string[] {
  return requests.filter((r) => r.startsWith(`PUT /${REPO}/alphha/objects/`)).map((r) => r.split('/').at(-1)!);
}

/** A copy of the sandbox's dr.yml with the documents in an S3 bucket instead of the uploads folder. */
async function s3DocumentsConfig(sandbox: Sandbox, endpoint: string, extra = ''): Promise<string> {
  const file = path.join(sandbox.dir, `dr-s3-docs${extra ? '-x' : ''}.yml`);
  const original = await readFile(sandbox.configPath, 'utf8');
  const replaced = original.replace(/storage:\n\s+kind: local\n\s+path: .*\n/, `storage:\n  kind: s3\n  bucket: ${DOCS}\n  region: us-east-1\n  endpoint: ${endpoint}\n  force_path_style: true\n`);
  expect(replaced).not.toBe(original);
  await writeFile(file, `${replaced}${extra}`);
  return file;
}

describe.skipIf(!(await awsCliAvailable()))('S3 on s3rver, checked and broken by awscli', () => {
  let s3: S3rverPeer;
  let sandbox: Sandbox;
  let env: Record<string, string>;

  beforeAll(async () => {
    s3 = await startS3rver([REPO, DOCS]);
    sandbox = await tempSandbox({ documents: 40, config: { backups: { repository: `s3://${REPO}/alphha`, endpoint: s3.endpoint, region: 'us-east-1' } } });
    env = { ...sandboxEnv(sandbox), ...s3.env };
  });
  afterAll(async () => {
    await sandbox?.destroy();
    await s3?.close();
  }, TEST_MS);

  it('stores each new object with one PUT and nothing else, under its SHA-256, which is the document’s recorded checksum', async () => {
    await s3.takeRequests();
    const { code, stdout } = await dr(['backup', 'storage'], env);
    expect(stdout).toMatch(/✅ storage snapshot storage-\S+: 40 files/);
    expect(code).toBe(0);
    const recorded = recordedChecksums(sandbox);
    const distinct = new Set(recorded.values());
    // At the server: one PUT per distinct content (two files with the same content included), no HEAD, no read-back.
    const requests = await s3.takeRequests();
    expect(objectRequests(requests)).toEqual([...distinct].map(() => 'PUT'));
    expect(new Set(objectsPut(requests))).toEqual(distinct);
    // awscli downloads every object: each one's SHA-256 is its name, and together they are the recorded checksums.
    const stored = await awsSha256s(s3, REPO, 'alphha/objects/');
    for (const [key, sha256] of stored) expect(key).toBe(`alphha/objects/${sha256.slice(0, 2)}/${sha256}`);
    expect(new Set(stored.values())).toEqual(distinct);
    // The manifest names each document by the object holding exactly what the DMS recorded.
    const id = /storage snapshot (storage-\S+):/.exec(stdout)![1]!;
    const manifest = JSON.parse(await aws(s3, ['s3', 'cp', `s3://${REPO}/alphha/manifests/${id}.json`, '-'])) as { documents: Array<{ path: string; sha256: string; checksum: string }> };
    expect(new Map(manifest.documents.map((d) => [d.path, d.sha256]))).toEqual(recorded);
    expect(manifest.documents.every((d) => d.checksum === 'ok')).toBe(true);
  }, TEST_MS);

  it('does not ask about content the previous snapshot already names: a new file with known content costs no request', async () => {
    const [first] = [...recordedChecksums(sandbox).keys()];
    await cp(path.join(sandbox.uploadsDir, first!), path.join(sandbox.uploadsDir, 'tenant-1', 'copy-of-a-document.pdf'));
    await writeFile(path.join(sandbox.uploadsDir, 'tenant-1', 'new-content.pdf'), 'content no snapshot has seen');
    await s3.takeRequests();
    const { code, stdout } = await dr(['backup', 'storage'], env);
    expect(code).toBe(0);
    expect(stdout).toMatch(/42 files, .*; copied 2 \(28 B new\), reused 40 unchanged/);
    expect(objectRequests(await s3.takeRequests())).toEqual(['PUT']);
  }, TEST_MS);

  it('a repository that refuses the credentials is named with its role, and damages nothing', async () => {
    const wrong = { ...env, AWS_ACCESS_KEY_ID: 'NOT-A-KEY' };
    const backup = await dr(['backup', 'storage'], wrong);
    expect(backup.code).toBe(2);
    expect(backup.stderr).toMatch(/repository bucket "dr-backups" refused the credentials \(s3:\/\/dr-backups\/alphha; .*InvalidAccessKeyId/);
    const status = await dr(['status'], wrong);
    expect(status.stdout).toContain('repository bucket "dr-backups"');
    expect(status.stdout).not.toMatch(/UnknownError/);
    // One error, exit 2: the check stops, and no backup is marked damaged for the store's refusal.
    const verify = await dr(['backups', 'storage', '--verify'], wrong);
    expect(verify.code).toBe(2);
    expect(verify.stderr.trim().split('\n')).toHaveLength(1);
    expect((await dr(['backups', 'storage'], env)).stdout).not.toMatch(/not verified|❌/);
  }, TEST_MS);

  it('deleted objects: --verify names the documents that lost them, and the next snapshot stores them again', async () => {
    const recorded = recordedChecksums(sandbox);
    const [victimPath, victimSha] = [...recorded.entries()][3]!;
    const key = `alphha/objects/${victimSha.slice(0, 2)}/${victimSha}`;
    await aws(s3, ['s3', 'rm', `s3://${REPO}/${key}`]);
    const verify = await dr(['backups', 'storage', '--verify'], env);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain(`${victimPath} (object ${victimSha.slice(0, 12)}): missing from the repository`);
    await s3.takeRequests();
    const backup = await dr(['backup', 'storage'], env);
    expect(backup.code).toBe(0);
    // No verified snapshot is left to go by: the objects present are listed and kept (touched), the missing one sent.
    const requests = await s3.takeRequests();
    const methods = objectRequests(requests);
    expect(objectsPut(requests)).toEqual([victimSha]);
    expect(methods.filter((m) => m !== 'PUT' && m !== 'COPY')).toEqual([]);
    expect((await awsSha256s(s3, REPO, `alphha/objects/${victimSha.slice(0, 2)}/`)).get(key)).toBe(victimSha);
  }, TEST_MS);

  it('manifests deleted: the next snapshot is taken in full, reusing every object already there', async () => {
    await aws(s3, ['s3', 'rm', '--recursive', `s3://${REPO}/alphha/manifests/`]);
    await s3.takeRequests();
    const { code, stdout } = await dr(['backup', 'storage'], env);
    expect(code).toBe(0);
    expect(stdout).toMatch(/⚠️ taken in full: the manifest of the previous snapshot storage-\S+ is gone from the repository/);
    expect(stdout).toMatch(/copied 42 \(0 B new\)/);
    expect(objectRequests(await s3.takeRequests()).filter((m) => m === 'PUT')).toEqual([]);
  }, TEST_MS);

  it('repository prefix emptied: the snapshot still works, --verify reports the vanished backups without crashing, --rebuild drops them', async () => {
    await aws(s3, ['s3', 'rm', '--recursive', `s3://${REPO}/alphha/`]);
    expect(await awsKeys(s3, REPO, 'alphha/')).toEqual([]);
    const backup = await dr(['backup', 'storage'], env);
    expect(backup.stdout).toMatch(/taken in full: the manifest of the previous snapshot storage-\S+ is gone/);
    expect(backup.code).toBe(0);
    const id = /storage snapshot (storage-\S+):/.exec(backup.stdout)![1]!;
    // Everything is stored again, as awscli finds it: each object under its own SHA-256.
    const stored = await awsSha256s(s3, REPO, 'alphha/objects/');
    for (const [key, sha256] of stored) expect(key.endsWith(sha256)).toBe(true);
    expect([...recordedChecksums(sandbox).values()].every((sha) => [...stored.values()].includes(sha))).toBe(true);

    const verify = await dr(['backups', 'storage', '--verify'], env);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toMatch(/manifests\/storage-\S+\.json: missing from the repository/);
    expect(verify.stdout).not.toMatch(/went wrong inside/);

    const rebuilt = await dr(['backups', '--rebuild'], env);
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.stdout).toMatch(/Catalog rebuilt from the repository: 1 backups\. Dropped \d+ whose manifests are gone/);
    const listed = (await dr(['backups', 'storage'], env)).stdout;
    expect(listed.match(/^storage-\S+/gm)).toEqual([id]);
  }, TEST_MS);

  it('an S3 documents bucket: a deleted document is missing; bad credentials and a removed bucket are one error naming the documents bucket', async () => {
    await aws(s3, ['s3', 'cp', '--recursive', '--only-show-errors', sandbox.uploadsDir, `s3://${DOCS}/`]);
    const config = await s3DocumentsConfig(sandbox, s3.endpoint);
    const docsEnv = { ...env, DR_CONFIG: config };
    const [gone] = [...recordedChecksums(sandbox).keys()];
    await aws(s3, ['s3', 'rm', `s3://${DOCS}/${gone!}`]);
    const checked = await dr(['verify', 'checksums'], docsEnv);
    expect(checked.code).toBe(1);
    expect(checked.stdout).toMatch(new RegExp(`${gone!.replace(/[.]/g, '\\.')}\\s+missing`));
    expect(checked.stdout).not.toMatch(/unreadable/);

    const refused = await dr(['verify', 'checksums'], { ...docsEnv, AWS_ACCESS_KEY_ID: 'NOT-A-KEY' });
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/documents bucket "alphha-docs" refused the credentials/);

    await aws(s3, ['s3', 'rb', '--force', `s3://${DOCS}`]);
    const noBucket = await dr(['verify', 'checksums'], docsEnv);
    expect(noBucket.code).toBe(2);
    expect(noBucket.stderr).toMatch(/The documents bucket "alphha-docs" does not exist/);
    expect((await dr(['status'], docsEnv)).stdout).toMatch(/❌ Document storage\s+The documents bucket "alphha-docs" does not exist/);
    const backup = await dr(['backup', 'storage'], docsEnv);
    expect(backup.code).toBe(2);
    expect(backup.stderr).toMatch(/The documents bucket "alphha-docs" does not exist/);
  }, TEST_MS);
});

describe('a hung S3 store', () => {
  // Accepts connections and reads requests, never answers: as a store that hangs does.
  const sockets: Socket[] = [];
  const silent = createServer((socket) => {
    sockets.push(socket);
    socket.on('data', () => {});
  });
  let endpoint: string;
  let sandbox: Sandbox;

  beforeAll(async () => {
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    endpoint = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    sandbox = await tempSandbox({ documents: 20, config: { backups: { repository: `s3://${REPO}/alphha`, endpoint, region: 'us-east-1', s3_timeout: '3s', s3_attempts: 2 } } });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
    await sandbox?.destroy();
  });

  const creds = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };

  it('fails a snapshot into it within attempts × timeout (backups.s3_timeout), naming the repository bucket', async () => {
    // What starting the CLI costs on this machine now, so the bound below is on the requests alone.
    let started = Date.now();
    expect((await dr(['help'], { ...sandboxEnv(sandbox), ...creds })).code).toBe(0);
    const start = Date.now() - started;
    started = Date.now();
    const { code, stderr } = await dr(['backup', 'storage'], { ...sandboxEnv(sandbox), ...creds });
    const elapsed = Date.now() - started - start;
    expect(code).toBe(2);
    expect(stderr).toMatch(/The repository bucket "dr-backups" did not answer within 3 s \(s3:\/\/dr-backups\/alphha at http:\/\/127\.0\.0\.1:\d+; ListObjectsV2; backups\.s3_timeout\)/);
    // 2 attempts of 3 s (and a retry's back-off), and no further request waits it out again.
    expect(elapsed + start).toBeGreaterThanOrEqual(6_000);
    expect(elapsed).toBeLessThan(6_000 + 5_000);
  }, TEST_MS);

  it('ends verify checksums of a hung documents bucket with one error, not one per document', async () => {
    const config = await s3DocumentsConfig(sandbox, endpoint);
    const env = { ...sandboxEnv(sandbox), DR_CONFIG: config, ...creds };
    let started = Date.now();
    expect((await dr(['help'], env)).code).toBe(0);
    const start = Date.now() - started;
    started = Date.now();
    const { code, stderr } = await dr(['verify', 'checksums'], env);
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/The documents bucket "alphha-docs" did not answer within 3 s/);
    // Sixteen documents asked at once wait 2 × 3 s together; none after them waits again.
    expect(Date.now() - started - start).toBeLessThan(6_000 + 5_000);
  }, TEST_MS);
});
