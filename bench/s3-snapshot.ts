// A full document snapshot into an S3 repository beside `aws s3 sync` of the same folder into the same server
// (s3rver over HTTP, in its own process), in the same run; and the requests each sends per new object, counted
// at the server. Issue target: ratio ≤ 1.2, one PUT per new object.
// Knobs: BENCH_S3_FILES (2000), BENCH_S3_MAX_KB (32), BENCH_ROUNDS (3).
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DatabaseDocumentChecksums } from '../src/adapters/dms/document-checksums.ts';
import { S3BackupRepository } from '../src/adapters/repository/s3-backup-repository.ts';
import { createS3Client } from '../src/adapters/s3/client.ts';
import { openStateStore } from '../src/adapters/state/kysely-store.ts';
import { LocalDocumentSource } from '../src/adapters/storage/local-document-source.ts';
import { fsWorkers } from '../src/adapters/storage/fs-worker-pool.ts';
import { backupStorage } from '../src/procedures/backup-storage.ts';
import { AWS_CLI } from '../test/helpers/awscli.ts';
import { startS3rver } from '../test/helpers/s3rver.ts';

const run = promisify(execFile);
const FILES = Number(process.env.BENCH_S3_FILES ?? 2000);
const MAX_KB = Number(process.env.BENCH_S3_MAX_KB ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TARGET = 1.2;
const BUCKET = 'bench-repository';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Requests per kind (`PUT`, `HEAD`, `GET`, `COPY`, …) among those that touched keys under `prefix`. */
function tally(requests: readonly string[], prefix: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const request of requests) {
    const [method, key] = request.split(' ');
    if (!key!.startsWith(`/${BUCKET}/${prefix}`)) continue;
    counts[method!] = (counts[method!] ?? 0) + 1;
  }
  return counts;
}

const dir = await mkdtemp(path.join(tmpdir(), 'dr-bench-s3-'));
const s3 = await startS3rver([BUCKET]);
try {
  Object.assign(process.env, s3.env);
  const uploads = path.join(dir, 'uploads');
  const dms = path.join(dir, 'dms.db');
  const db = new Database(dms);
  db.exec('create table documents (id integer primary key, tenant_id integer, file_path text unique, checksum_sha256 text, size_bytes integer, created_at text)');
  const insert = db.prepare("insert into documents (tenant_id, file_path, checksum_sha256, size_bytes, created_at) values (1, ?, ?, ?, datetime('now'))");
  let bytes = 0;
  for (let i = 0; i < FILES; i += 1) {
    const relative = `t${i % 20}/doc-${i}.bin`;
    await mkdir(path.join(uploads, `t${i % 20}`), { recursive: true });
    const content = randomBytes(1024 + Math.floor(Math.random() * (MAX_KB - 1) * 1024));
    await writeFile(path.join(uploads, relative), content);
    insert.run(relative, createHash('sha256').update(content).digest('hex'), content.length);
    bytes += content.length;
  }
  db.close();
  const { stdout: awsVersion } = await run(AWS_CLI, ['--version']);
  console.log(`${FILES} files, ${(bytes / 1024 ** 2).toFixed(1)} MiB, into s3rver at ${s3.endpoint}; ${awsVersion.trim()}`);

  const client = createS3Client({ region: 'us-east-1', endpoint: s3.endpoint });
  const ours = async (round: number) => {
    // A fresh state store and prefix each round: the snapshot is a full one, every object new.
    const store = await openStateStore(path.join(dir, `state-${round}.db`));
    const prefix = `ours-${round}`;
    const repository = new S3BackupRepository(client, BUCKET, prefix);
    await s3.takeRequests();
    const started = performance.now();
    const manifest = await backupStorage({
      source: new LocalDocumentSource(uploads),
      checksums: new DatabaseDocumentChecksums(`sqlite:${dms}`),
      repository,
      store,
      timeoutMs: 3_600_000,
      now: () => new Date(),
      botVersion: 'bench',
    });
    const ms = performance.now() - started;
    await store.close();
    if (manifest.documents?.length !== FILES || manifest.verification.checksum_mismatches?.length) throw new Error('the snapshot is not what it should be');
    return { ms, objects: tally(await s3.takeRequests(), `${prefix}/objects/`) };
  };
  const reference = async (round: number) => {
    const prefix = `sync-${round}`;
    await s3.takeRequests();
    const started = performance.now();
    await run(AWS_CLI, ['s3', 'sync', '--only-show-errors', uploads, `s3://${BUCKET}/${prefix}/`, '--endpoint-url', s3.endpoint], {
      env: { PATH: process.env.PATH ?? '', HOME: dir, AWS_PAGER: '', AWS_EC2_METADATA_DISABLED: 'true', AWS_DEFAULT_REGION: 'us-east-1', ...s3.env },
    });
    const ms = performance.now() - started;
    return { ms, objects: tally(await s3.takeRequests(), `${prefix}/`) };
  };

  // A warm-up of each (JIT, worker threads, s3rver's own caches), not counted.
  await ours(0);
  await reference(0);
  const oursMs: number[] = [];
  const referenceMs: number[] = [];
  let oursRequests: Record<string, number> = {};
  let referenceRequests: Record<string, number> = {};
  for (let round = 1; round <= ROUNDS; round += 1) {
    const a = await ours(round);
    const b = await reference(round);
    oursMs.push(a.ms);
    referenceMs.push(b.ms);
    oursRequests = a.objects;
    referenceRequests = b.objects;
    console.log(`round ${round}: dr-bot ${a.ms.toFixed(0)} ms, aws s3 sync ${b.ms.toFixed(0)} ms`);
  }
  const perObject = (counts: Record<string, number>) =>
    Object.entries(counts)
      .map(([method, n]) => `${(n / FILES).toFixed(2)} ${method}`)
      .join(' + ');
  const ratio = median(oursMs) / median(referenceMs);
  console.log(`requests per new object: dr-bot ${perObject(oursRequests)}; aws s3 sync ${perObject(referenceRequests)}`);
  console.log(`median: dr-bot ${median(oursMs).toFixed(0)} ms, aws s3 sync ${median(referenceMs).toFixed(0)} ms, ratio ${ratio.toFixed(2)} (target ≤ ${TARGET})`);
  const onePut = oursRequests.PUT === FILES && Object.keys(oursRequests).length === 1;
  console.log(`${ratio <= TARGET ? 'PASS' : 'FAIL'} ratio; ${onePut ? 'PASS' : 'FAIL'} one PUT per new object`);
  client.destroy();
} finally {
  await fsWorkers.close();
  await s3.close();
  await rm(dir, { recursive: true, force: true });
}
