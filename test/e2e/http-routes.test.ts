import { request } from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import { startTestBot, useSandboxBot, type TestBot } from '../helpers/bot.ts';
import { postgresAvailable, scratchDatabase } from '../helpers/pg.ts';

const hasPostgres = await postgresAvailable();

describe('GET /healthz and /metrics', () => {
  const subject = useSandboxBot();
  let t: TestBot;
  beforeAll(() => {
    t = subject.t();
  });

  it('reports the state store and the Slack mode', async () => {
    const response = await fetch(`${t.bot.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      status: 'ok',
      state: { kind: 'sqlite', reachable: true },
      slack: { mode: 'http', api: { reachable: true, botUserId: expect.any(String) } },
    });
  });

  it('exposes process metrics, command counts by outcome and the ack-latency histogram', async () => {
    await t.command('status');
    await t.command('stauts');
    await t.slack.waitFor((c) => c.method === 'chat.postMessage');
    const response = await fetch(`${t.bot.url}/metrics`);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^dr_command_total\{command="status",outcome="degraded"\} 1$/m);
    expect(text).toMatch(/^dr_command_total\{command="unknown",outcome="command_unknown"\} 1$/m);
    expect(text).toMatch(/^dr_ack_latency_seconds_count\{surface="slack"\} 2$/m);
    // No backup yet: unbounded exposure.
    expect(text).toMatch(/^dr_rpo_exposure_seconds \+Inf$/m);
  });

  it('exposes backup ages and the RPO exposure once there are backups', async () => {
    await t.bot.deps.backupDatabase();
    const text = await (await fetch(`${t.bot.url}/metrics`)).text();
    const exposure = Number(/^dr_rpo_exposure_seconds ([\d.e+-]+)$/m.exec(text)![1]);
    expect(exposure).toBeGreaterThanOrEqual(0);
    expect(exposure).toBeLessThan(60);
    expect(text).toMatch(/^dr_backup_age_seconds\{kind="db"\} [\d.e+-]+$/m);
  });

  it('refuses an oversized body to /slack/events before reading it', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${t.bot.url}/slack/events`, { method: 'POST', headers: { 'content-length': String(5 * 1024 * 1024), 'content-type': 'application/x-www-form-urlencoded' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write('x'.repeat(1024));
    });
    expect(status).toBe(413);
  });

  it('refuses alert ingestion with 503 while DR_ALERT_TOKEN is unset', async () => {
    for (const route of ['/alerts', '/alerts/alertmanager']) {
      const response = await fetch(`${t.bot.url}${route}`, { method: 'POST', body: '{}', headers: { authorization: 'Bearer anything' } });
      expect(response.status).toBe(503);
      expect((await response.json()).error).toContain('DR_ALERT_TOKEN is not set');
    }
  });

  it('answers 404 for unknown routes', async () => {
    expect((await fetch(`${t.bot.url}/admin`)).status).toBe(404);
  });
});

describe.skipIf(!hasPostgres)('GET /healthz with PostgreSQL state', () => {
  it('answers 503 when the state store goes away, and the bot keeps serving', async () => {
    const database = await scratchDatabase('dr_state_healthz');
    const t = await startTestBot({ state: database.url });
    try {
      const healthy = await fetch(`${t.bot.url}/healthz`);
      expect(healthy.status).toBe(200);
      expect((await healthy.json()).state).toMatchObject({ kind: 'postgres', reachable: true, healthy: true });
      await database.drop();
      const down = await fetch(`${t.bot.url}/healthz`);
      expect(down.status).toBe(503);
      expect(await down.json()).toMatchObject({ status: 'unavailable', state: { kind: 'postgres', reachable: false, healthy: false, error: expect.any(String) } });
      expect((await t.command('help')).status).toBe(200);
    } finally {
      await t.close();
      await database.drop();
    }
  });
});
