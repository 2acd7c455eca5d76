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

  it('fails a request the store never answers instead of waiting for ever', async () => {
    const client = createS3Client({ region: 'us-east-1', endpoint, idleTimeoutMs: 300 });
    const started = Date.now();
    await expect(client.send(new HeadBucketCommand({ Bucket: 'backups' }))).rejects.toMatchObject({ name: 'TimeoutError' });
    await expect(client.send(new PutObjectCommand({ Bucket: 'backups', Key: 'x', Body: 'bytes' }))).rejects.toMatchObject({ name: 'TimeoutError' });
    // Two attempts each, 300 ms of silence per attempt.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(sockets.length).toBe(4);
    client.destroy();
  });
});
