import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBot, type TestBot } from '../helpers/bot.ts';

const TOKEN = 'email-test-token';

/** A real SMTP server on 127.0.0.1 that keeps every mail it is given. */
async function startSmtp(): Promise<{ port: number; mails: Array<{ to: string[]; data: string }>; close(): Promise<void> }> {
  const mails: Array<{ to: string[]; data: string }> = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), data: Buffer.concat(chunks).toString('utf8') });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.server.address() as AddressInfo).port, mails, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('warnings by e-mail', () => {
  let dir: string;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let t: TestBot;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dr-email-'));
    smtp = await startSmtp();
    const config = path.join(dir, 'dr.yml');
    await writeFile(config, `email:\n  smtp_url: smtp://127.0.0.1:${smtp.port}\n  from: dr-bot@example.com\n  to: [oncall@example.com, dba@example.com]\n`);
    t = await startTestBot({ configPath: config, env: { DR_ALERT_TOKEN: TOKEN } });
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const post = (body: object) =>
    fetch(`${t.bot.url}/alerts`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('mails a warning when it fires and when it resolves, to every configured address; critical alerts page instead', async () => {
    expect((await post({ alert: 'latency_p95', severity: 'warning', status: 'firing', summary: 'p95 3.1 s over 5 min (threshold 2 s)' })).status).toBe(202);
    await expect.poll(() => smtp.mails.length, { timeout: 15_000 }).toBe(1);
    expect(smtp.mails[0]!.to).toEqual(['oncall@example.com', 'dba@example.com']);
    expect(smtp.mails[0]!.data).toContain('Subject: [alphha-dms] WARNING: latency_p95');
    expect(smtp.mails[0]!.data).toContain('p95 3.1 s over 5 min');

    expect((await post({ alert: 'latency_p95', severity: 'warning', status: 'resolved', summary: 'p95 0.4 s' })).status).toBe(202);
    await expect.poll(() => smtp.mails.length, { timeout: 15_000 }).toBe(2);
    expect(smtp.mails[1]!.data).toContain('Subject: [alphha-dms] RESOLVED: latency_p95');

    expect((await post({ alert: 'health_endpoint_down', severity: 'critical', status: 'firing', summary: 'health answers 503' })).status).toBe(202);
    await t.slack.waitFor((c) => c.method === 'chat.postMessage' && String(c.body.text).includes('health_endpoint_down'));
    expect(smtp.mails).toHaveLength(2);
    expect((await t.bot.deps.store.listOutbox({ target: 'email' })).every((m) => m.status === 'delivered')).toBe(true);
  });
});
