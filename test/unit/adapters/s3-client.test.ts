import { HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../../src/adapters/s3/client.ts';

describe('createS3Client', () => {
  // An S3 endpoint that accepts connections and reads requests but never answers, as a hung store does.
  const sockets: Socket[] = [];
  const silent = createServer((socket) => {
    sockets.push(socket);
    socket.on('data', () => {});
  });
  let endpoint: string;

  const savedEnv = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  beforeAll(async () => {
    // Credentials as any S3-compatible store takes them; the requests must reach the endpoint to hang there.
    process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
    process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    endpoint = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    if (savedEnv.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
    else process.env.AWS_ACCESS_KEY_ID = savedEnv.id;
    if (savedEnv.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
    else process.env.AWS_SECRET_ACCESS_KEY = savedEnv.secret;
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('fails a request the store never answers instead of waiting for ever, and does not wait it out again for the next', async () => {
    const client = createS3Client({ region: 'us-east-1', endpoint, idleTimeoutMs: 300, maxAttempts: 2 });
    const before = sockets.length;
    const started = Date.now();
    await expect(client.send(new HeadBucketCommand({ Bucket: 'backups' }))).rejects.toMatchObject({ name: 'TimeoutError' });
    // Two attempts, 300 ms of silence each.
    expect(sockets.length - before).toBe(2);
    const firstFailed = Date.now();
    // The next request of the same step, within the timeout: failed at once, never sent.
    await expect(client.send(new PutObjectCommand({ Bucket: 'backups', Key: 'x', Body: 'bytes' }))).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(Date.now() - firstFailed).toBeLessThan(150);
    expect(sockets.length - before).toBe(2);
    expect(firstFailed - started).toBeLessThan(10_000);
    // Past the window the store is asked again: a store that recovered is used again.
    await new Promise((resolve) => setTimeout(resolve, 350));
    await expect(client.send(new PutObjectCommand({ Bucket: 'backups', Key: 'x', Body: 'bytes' }))).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(sockets.length - before).toBe(4);
    client.destroy();
  });

  it('takes its attempts from the settings: one attempt, one connection', async () => {
    const client = createS3Client({ region: 'us-east-1', endpoint, idleTimeoutMs: 300, maxAttempts: 1 });
    const before = sockets.length;
    await expect(client.send(new HeadBucketCommand({ Bucket: 'backups' }))).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(sockets.length - before).toBe(1);
    client.destroy();
  });
});
