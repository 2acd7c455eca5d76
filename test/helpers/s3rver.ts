// s3rver, a real S3 protocol peer, in its own process: its ListObjectsV2 continuation tokens need the
// legacy OpenSSL provider (DES), which only a fresh process can be started with (STACK-NOTES).
import { fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** A running s3rver: its endpoint, and the credentials it accepts. */
export interface S3rverPeer {
  endpoint: string;
  env: { AWS_ACCESS_KEY_ID: string; AWS_SECRET_ACCESS_KEY: string; AWS_REGION: string };
  /**
   * The requests s3rver has served since the last call, as `METHOD /bucket/key` (`COPY` for a CopyObject, a
   * PUT with x-amz-copy-source), counted at the server, whoever the client.
   */
  takeRequests(): Promise<string[]>;
  close(): Promise<void>;
}

/** Starts s3rver on 127.0.0.1 with these buckets, storing in a temp folder removed by close(). */
export async function startS3rver(buckets: readonly string[]): Promise<S3rverPeer> {
  const directory = await mkdtemp(path.join(tmpdir(), 'dr-s3rver-'));
  const child = fork(fileURLToPath(import.meta.url), ['--child', directory, ...buckets], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, NODE_OPTIONS: '--openssl-legacy-provider' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    takeRequests: () =>
      new Promise<string[]>((resolve) => {
        child.once('message', (m) => resolve((m as { requests: string[] }).requests));
        child.send({ take: 'requests' });
      }),
    env: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' },
    async close() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      await rm(directory, { recursive: true, force: true });
    },
  };
}

if (process.argv[2] === '--child') {
  const [directory, ...buckets] = process.argv.slice(3);
  const { default: S3rver } = await import('s3rver');
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: directory!, configureBuckets: buckets.map((name) => ({ name, configs: [] })) });
  // First in the chain (Koa composes its middleware when it starts listening): every request is counted.
  let requests: string[] = [];
  (server as unknown as { middleware: Array<(ctx: { method: string; path: string; get(h: string): string }, next: () => Promise<void>) => Promise<void>> }).middleware.unshift(
    async (ctx, next) => {
      requests.push(`${ctx.method === 'PUT' && ctx.get('x-amz-copy-source') ? 'COPY' : ctx.method} ${decodeURIComponent(ctx.path)}`);
      await next();
    },
  );
  process.on('message', () => {
    process.send!({ requests });
    requests = [];
  });
  const address = (await server.run()) as unknown as { port: number };
  process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
  process.send!({ port: address.port });
}
