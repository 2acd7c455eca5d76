// The Slack Web API fake in its own process, as Slack is in production: for benchmarks, where the fake's
// own CPU (parsing hundreds of posts) must not be billed to the bot it shares a process with.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SlackCall } from './slack-api.ts';

/** What the parent can see of a fake running in a child process. */
export interface RemoteSlackFake {
  apiUrl: string;
  responseUrl(id: string): string;
  callsTo(method: string): Promise<Array<Pick<SlackCall, 'body' | 'failed' | 'status'>>>;
  close(): Promise<void>;
}

type Reply = { id: number; result: unknown };

/** Forks this file as the child, which starts the fake and answers queries over IPC. */
export async function startSlackFakeProcess(): Promise<RemoteSlackFake> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--child'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = await new Promise<{ apiUrl: string; baseUrl: string }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { apiUrl: string; baseUrl: string }));
    child.once('exit', (code) => reject(new Error(`Slack fake process exited with ${code}`)));
  });
  let nextId = 0;
  const waiting = new Map<number, (result: unknown) => void>();
  child.on('message', (m) => {
    const reply = m as Reply;
    waiting.get(reply.id)?.(reply.result);
    waiting.delete(reply.id);
  });
  const ask = <T>(op: string, arg: string) =>
    new Promise<T>((resolve) => {
      const id = (nextId += 1);
      waiting.set(id, resolve as (r: unknown) => void);
      child.send({ id, op, arg });
    });
  return {
    apiUrl: ready.apiUrl,
    responseUrl: (id) => `${ready.baseUrl}/response/${encodeURIComponent(id)}`,
    callsTo: (method) => ask('callsTo', method),
    async close() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

if (process.argv.includes('--child')) {
  const { startSlackFake } = await import('./slack-api.ts');
  const fake = await startSlackFake();
  process.on('message', (m) => {
    const { id, op, arg } = m as { id: number; op: string; arg: string };
    const result = op === 'callsTo' ? fake.callsTo(arg).map((c) => ({ body: c.body, failed: c.failed, status: c.status })) : null;
    process.send!({ id, result });
  });
  process.once('SIGTERM', () => void fake.close().then(() => process.exit(0)));
  process.send!({ apiUrl: fake.apiUrl, baseUrl: fake.baseUrl });
}
