import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { startTestBot, useSandboxBot, type TestBot } from '../helpers/bot.ts';
import { postgresAvailable } from '../helpers/pg.ts';
import { tempSandbox } from '../helpers/sandbox.ts';
import type { SlackCall } from '../fakes/slack-api.ts';

const hasPostgres = await postgresAvailable();

/** The text of every section of a posted status message, keyed by block_id. */
function sections(call: SlackCall): Record<string, string> {
  const blocks = call.body.blocks as Array<{ block_id?: string; text?: { text: string } }>;
  return Object.fromEntries(blocks.filter((b) => b.block_id && b.text).map((b) => [b.block_id!, b.text!.text]));
}

async function statusMessage(t: TestBot): Promise<Record<string, string>> {
  const response = await t.command('status');
  expect(response.status).toBe(200);
  expect(response.ms).toBeLessThan(3_000);
  const posted = await t.slack.waitFor((c) => c.method === 'chat.postMessage' && !c.failed, 10_000);
  expect(posted.body.channel).toBe('C0OPS00001');
  return sections(posted);
}

describe.each([
  { database: 'sqlite' as const, skip: false },
  { database: 'postgres' as const, skip: !hasPostgres },
])('/dr status on a healthy $database sandbox', ({ database, skip }) => {
  let sandbox: Sandbox;
  let t: TestBot;
  beforeAll(async () => {
    if (skip) return;
    sandbox = await tempSandbox({ database });
    await sandbox.startServer();
    t = await startTestBot({ configPath: sandbox.configPath });
  });
  afterAll(async () => {
    await t?.close();
    await sandbox?.destroy();
  });

  it.skipIf(skip)('acks in time, then posts every component as healthy with counts', async () => {
    const s = await statusMessage(t);
    expect(s.status_probe_database).toMatch(/^✅ \*DMS database\*/);
    expect(s.status_probe_database).toContain(database === 'sqlite' ? 'SQLite' : 'PostgreSQL');
    expect(s.status_probe_database).toContain(`${sandbox.counts.documents} documents, ${sandbox.counts.users} users, ${sandbox.counts.tenants} tenants`);
    expect(s.status_probe_health).toMatch(/^✅ .*HTTP 200, healthy/);
    expect(s.status_probe_metrics).toMatch(/^✅ .*reachable, \d+ samples/);
    expect(s.status_probe_storage).toMatch(new RegExp(`^✅ .*% used, .* free, ${sandbox.counts.documents} files`));
    expect(s.status_probe_backups).toContain('no backups yet — RPO exposure unknown');
    expect(s.status_probe_drills).toMatch(/^⚠️ \*Recovery drills\* — no drill yet — RTO unmeasured \(target 4 h\)/);
    expect(s.status_probe_pagerduty).toMatch(/^⚠️ .*not configured/);
    expect(s.status_header).toBe('⚠️ alphha-sandbox is degraded');
    const probeLines = Object.entries(s).filter(([id]) => id.startsWith('status_probe_'));
    // The seven DMS components and the bot's own alert delivery.
    expect(probeLines).toHaveLength(8);
    for (const [, text] of probeLines) expect(text).toMatch(/_\(\d+ ms\)_/);
    const audit = await t.bot.deps.store.listAudit();
    expect(audit.at(-1)).toMatchObject({ source: 'slack', actor: 'U0USER0001', channel: 'C0OPS00001', command: 'status', text: 'status', outcome: 'degraded' });
  });
});

describe('/dr status on a broken sandbox', () => {
  const subject = useSandboxBot({ corrupt: true, serverDown: true });
  let sandbox: Sandbox;
  let t: TestBot;
  beforeAll(() => {
    sandbox = subject.sandbox();
    t = subject.t();
  });
  afterEach(() => t.slack.reset());

  it('reports the corrupted database and the dead health server with reasons, still in time', async () => {
    const s = await statusMessage(t);
    expect(s.status_header).toBe('❌ alphha-sandbox is failing');
    expect(s.status_probe_database).toMatch(/^❌ \*DMS database\* — integrity check failed: SQLITE_CORRUPT/);
    expect(s.status_probe_health).toMatch(/^❌ .*unreachable: ECONNREFUSED/);
    expect(s.status_probe_metrics).toMatch(/^❌ .*unreachable: ECONNREFUSED/);
    expect(s.status_probe_storage).toMatch(/^✅/);
  });

  it('answers within the probe deadline when the health endpoint hangs, without delaying the other probes', async () => {
    await sandbox.startServer();
    await sandbox.setFault('latency', 20);
    try {
      const started = Date.now();
      const s = await statusMessage(t);
      expect(Date.now() - started).toBeLessThan(6_000);
      expect(s.status_probe_health).toMatch(/^❌ .*no answer within 2000 ms/);
      const storageMs = Number(/_\((\d+) ms\)_/.exec(s.status_probe_storage!)![1]);
      expect(storageMs).toBeLessThan(1_500);
    } finally {
      await sandbox.stopServer();
    }
  });
});
