// `verify checksums` beside `sha256sum` over the same files (issue target: ratio ≤ 0.7 on ≥ 2 GB, which needs
// every core). Builds an uploads folder and a SQLite DMS database listing it, then alternates the two.
// Knobs: BENCH_CHECKSUM_MB (2048), BENCH_CHECKSUM_FILES (2048), BENCH_ROUNDS (3).
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DatabaseDocumentChecksums } from '../src/adapters/dms/document-checksums.ts';
import { LocalDocumentHasher } from '../src/adapters/storage/local-document-hasher.ts';
import { verifyChecksums } from '../src/procedures/verify-checksums.ts';

const run = promisify(execFile);
const TOTAL_MB = Number(process.env.BENCH_CHECKSUM_MB ?? 2048);
const FILES = Number(process.env.BENCH_CHECKSUM_FILES ?? 2048);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TARGET = 0.7;

/** Median of a few timings. */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const dir = await mkdtemp(path.join(tmpdir(), 'dr-bench-checksums-'));
try {
  const uploads = path.join(dir, 'uploads');
  const perFile = Math.floor((TOTAL_MB * 1024 * 1024) / FILES);
  const db = new Database(path.join(dir, 'dms.db'));
  db.exec('create table documents (id integer primary key, tenant_id integer, file_path text unique, checksum_sha256 text, size_bytes integer, created_at text)');
  const insert = db.prepare("insert into documents (tenant_id, file_path, checksum_sha256, size_bytes, created_at) values (1, ?, ?, ?, datetime('now'))");
  const block = randomBytes(perFile);
  const paths: string[] = [];
  for (let i = 0; i < FILES; i += 1) {
    const relative = `t${i % 32}/doc-${i}.bin`;
    await mkdir(path.join(uploads, `t${i % 32}`), { recursive: true });
    // Distinct content per file without generating gigabytes of randomness: a 16-byte prefix differs.
    const content = Buffer.concat([randomBytes(16), block.subarray(16)]);
    await writeFile(path.join(uploads, relative), content);
    insert.run(relative, createHash('sha256').update(content).digest('hex'), content.length);
    paths.push(path.join(uploads, relative));
  }
  db.close();
  console.log(`${FILES} files, ${((perFile * FILES) / 1024 ** 3).toFixed(2)} GiB, ${availableParallelism()} cores`);

  const ours = async () => {
    const hasher = new LocalDocumentHasher(uploads);
    const started = performance.now();
    const report = await verifyChecksums({ checksums: new DatabaseDocumentChecksums(`sqlite:${path.join(dir, 'dms.db')}`), hasher, concurrency: availableParallelism() * 4 });
    const ms = performance.now() - started;
    await hasher.close();
    if (report.problems.length > 0 || report.checked !== FILES) throw new Error(`verify checksums found ${report.problems.length} problems`);
    return ms;
  };
  const reference = async () => {
    const started = performance.now();
    await run('sha256sum', paths, { maxBuffer: 64 * 1024 * 1024 });
    return performance.now() - started;
  };
  await reference(); // warms the page cache for both
  const oursMs: number[] = [];
  const refMs: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    oursMs.push(await ours());
    refMs.push(await reference());
  }
  const ratio = median(oursMs) / median(refMs);
  console.log(`verify checksums ${(median(oursMs) / 1000).toFixed(2)} s   sha256sum ${(median(refMs) / 1000).toFixed(2)} s   ratio ${ratio.toFixed(2)}   target ≤ ${TARGET}   ${ratio <= TARGET ? 'PASS' : 'FAIL'}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
