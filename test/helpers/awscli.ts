// Debian's awscli as an independent S3 client: it checks what dr-bot stored, and plays the disasters, through
// code that is not ours (its own signing, listing and transfers).
import { execFile } from 'node:child_process';
import { access, constants, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { S3rverPeer } from './s3rver.ts';

const run = promisify(execFile);

/** Debian's awscli (apt-get install awscli), by its full path: another `aws` earlier on PATH is not the one tested with. */
export const AWS_CLI = '/usr/bin/aws';

/** Whether Debian's awscli is installed; under CI=true it must be (.ci/run installs it). */
export async function awsCliAvailable(): Promise<boolean> {
  if (process.env.CI === 'true') return true;
  return access(AWS_CLI, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/** Runs `aws ARGS --endpoint-url …` against the peer with its credentials (or others, to play bad ones). */
export async function aws(peer: S3rverPeer, args: readonly string[], env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await run(AWS_CLI, [...args, '--endpoint-url', peer.endpoint], {
    env: { PATH: process.env.PATH ?? '', HOME: tmpdir(), AWS_PAGER: '', AWS_EC2_METADATA_DISABLED: 'true', AWS_DEFAULT_REGION: peer.env.AWS_REGION, ...peer.env, ...env },
    maxBuffer: 64 * 1024 * 1024,
    timeout: 120_000,
  });
  return stdout;
}

/** Every key under a prefix, as awscli lists it. */
export async function awsKeys(peer: S3rverPeer, bucket: string, prefix: string): Promise<string[]> {
  const out = await aws(peer, ['s3api', 'list-objects-v2', '--bucket', bucket, '--prefix', prefix, '--output', 'json']);
  if (!out.trim()) return [];
  return ((JSON.parse(out) as { Contents?: Array<{ Key: string }> }).Contents ?? []).map((c) => c.Key).sort();
}

/** SHA-256 of every object under a prefix, downloaded by awscli (`aws s3 cp --recursive`), by key. */
export async function awsSha256s(peer: S3rverPeer, bucket: string, prefix: string): Promise<Map<string, string>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'dr-awscli-'));
  try {
    await aws(peer, ['s3', 'cp', '--recursive', '--only-show-errors', `s3://${bucket}/${prefix}`, dir]);
    const hashes = new Map<string, string>();
    for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const file = path.join(entry.parentPath, entry.name);
      hashes.set(`${prefix}${path.relative(dir, file)}`, createHash('sha256').update(await readFile(file)).digest('hex'));
    }
    return hashes;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
