import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { GATE_ACTION, GATE_BLOCK, GATE_VIEW } from '../../src/slack/ids.ts';
import { startTestBot, type TestBot } from '../helpers/bot.ts';
import { postgresAvailable } from '../helpers/pg.ts';
import { tempSandbox } from '../helpers/sandbox.ts';
import { clickButton, submitModal } from '../helpers/slack-interactions.ts';
import { approve, finishedRun, gateIdOf, runThroughGate } from '../helpers/gates.ts';

const hasPostgres = await postgresAvailable();
const CHANNEL = 'C0OPS00001';
const OPERATOR = 'U0OPERATOR';
const APPROVER = 'U0APPROVER';

describe.each([
  { engine: 'sqlite' as const, skip: false },
  { engine: 'postgres' as const, skip: !hasPostgres },
])('/dr restore db on $engine, end to end through Slack', ({ engine, skip }) => {
  let sandbox: Sandbox;
  let t: TestBot;
  beforeAll(async () => {
    if (skip) return;
    sandbox = await tempSandbox({
      database: engine,
      config: { slack: { roles: { operators: [OPERATOR], approvers: [OPERATOR, APPROVER] } }, service: { timeout: '15s' } },
    });
    await sandbox.startServer();
    t = await startTestBot({ configPath: sandbox.configPath });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await sandbox?.destroy();
  });

  it.skipIf(skip)('restores a corrupted database behind confirm, typed name and a second approver, keeps the old one, and undoes', async () => {
    const backup = await t.bot.deps.backupDatabase();
    expect(backup.verified).toBe(true);
    await corrupt(sandbox);
    expect(await liveCounts(sandbox)).not.toEqual(seeded(sandbox));

    // An operator asks; the plan names the backup and nothing runs yet.
    const posted = t.slack.calls.length;
    await t.command('restore db latest', { user: OPERATOR });
    const plan = await t.slack.waitFor((c) => t.slack.calls.indexOf(c) >= posted && c.method === 'chat.postMessage' && JSON.stringify(c.body.blocks ?? '').includes(GATE_ACTION.confirm), 20_000);
    const planText = JSON.stringify(plan.body.blocks);
    expect(planText).toContain(backup.id);
    expect(planText).toContain('Data-loss window');
    expect(planText).toContain('Plan hash');
    const gateId = gateIdOf(plan);
    const messageTs = (plan.response as { ts: string }).ts;
    expect(await t.bot.deps.store.listRuns()).toEqual([]);

    // Confirm → modal; a wrong name is an inline error and changes nothing.
    await clickButton(t.bot.url, { user: OPERATOR, channel: CHANNEL, messageTs, actionId: GATE_ACTION.confirm, blockId: GATE_BLOCK.actions, value: gateId });
    await t.slack.waitFor((c) => c.method === 'views.open');
    const wrong = await submitModal(t.bot.url, { user: OPERATOR, callbackId: GATE_VIEW.confirm, privateMetadata: gateId, values: { [GATE_VIEW.nameBlock]: { [GATE_VIEW.nameInput]: 'alphha-prod' } } });
    expect(JSON.parse(wrong.body)).toMatchObject({ response_action: 'errors', errors: { [GATE_VIEW.nameBlock]: expect.stringContaining('not the system name') } });
    expect((await t.bot.deps.store.getGate(gateId))?.state).toBe('awaiting_confirmation');

    // The right name moves it to approval; the plan message now offers Approve.
    await submitModal(t.bot.url, { user: OPERATOR, callbackId: GATE_VIEW.confirm, privateMetadata: gateId, values: { [GATE_VIEW.nameBlock]: { [GATE_VIEW.nameInput]: 'alphha-sandbox' } } });
    await expect.poll(async () => (await t.bot.deps.store.getGate(gateId))?.state).toBe('awaiting_approval');
    await t.slack.waitFor((c) => c.method === 'chat.update' && c.body.ts === messageTs && JSON.stringify(c.body.blocks).includes(GATE_ACTION.approve));
    const gate = (await t.bot.deps.store.getGate(gateId))!;

    // The requester cannot approve their own plan.
    await approve(t, gate, messageTs, OPERATOR);
    const refusal = await t.slack.waitFor((c) => c.method === 'chat.postEphemeral' && c.body.user === OPERATOR);
    expect(String(refusal.body.text)).toContain('another approver has to approve');
    expect((await t.bot.deps.store.getGate(gateId))?.state).toBe('awaiting_approval');

    // Another approver approves: it runs, once, and the checklist is posted in the plan's thread.
    await approve(t, gate, messageTs, APPROVER);
    const run = await finishedRun(t, gateId);
    expect(run.steps.map((s) => [s.name, s.status])).toEqual(run.steps.map((s) => [s.name, 'done']));
    expect(run.status).toBe('succeeded');
    const checklist = t.slack.calls.filter((c) => c.method === 'chat.postMessage' && c.body.thread_ts === messageTs);
    expect(checklist).toHaveLength(1);
    expect(await liveCounts(sandbox)).toEqual(seeded(sandbox));
    expect(run.summary).toMatchObject({ backupId: backup.id, counts: seeded(sandbox), downtimeMs: expect.any(Number), dataLossWindowMs: expect.any(Number) });
    const kept = run.summary.kept as { name: string };
    expect(await exists(sandbox, kept.name)).toBe(true);
    const report = await t.bot.deps.currentStatus();
    expect(report.probes.find((p) => p.id === 'health')?.state).toBe('ok');

    // A replayed approval runs nothing more.
    await approve(t, gate, messageTs, APPROVER);
    await t.slack.waitFor((c) => c.method === 'chat.postEphemeral' && c.body.user === APPROVER && String(c.body.text).includes('has already run'));
    expect(await t.bot.deps.store.listRuns({ procedure: 'restore-db' })).toHaveLength(1);

    // Undo brings the corrupted database back (and keeps the restored one in its turn).
    const undone = await runThroughGate(t, 'restore undo', { requester: OPERATOR, approver: APPROVER }, 'alphha-sandbox');
    expect(undone.steps.find((s) => s.name === 'swap the kept database back in')?.status).toBe('done');
    expect(await liveCounts(sandbox).catch(() => 'unreadable')).not.toEqual(seeded(sandbox));
    expect(await exists(sandbox, (undone.summary.kept as { name: string }).name)).toBe(true);

    const audit = (await t.bot.deps.store.listAudit()).map((e) => e.outcome);
    for (const event of ['plan_proposed', 'confirm_wrong_name', 'plan_confirmed', 'approval_denied', 'plan_approved', 'run_started', 'run_succeeded', 'gate_transition_refused']) expect(audit).toContain(event);
  }, 180_000);
});

async function corrupt(sandbox: Sandbox): Promise<void> {
  if (sandbox.kind === 'sqlite') return sandbox.corruptDatabase();
  // PostgreSQL pages cannot be damaged from outside safely; lose and mangle rows instead.
  await withPg(sandbox.databaseUrl, async (client) => {
    await client.query('DELETE FROM documents WHERE id % 2 = 0');
    await client.query("UPDATE users SET email = email || '.tampered'");
  });
}

async function liveCounts(sandbox: Sandbox): Promise<{ tenants: number; users: number; documents: number } | string> {
  const query = 'SELECT (SELECT count(*) FROM tenants) AS tenants, (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM documents) AS documents';
  if (sandbox.kind === 'sqlite') {
    const db = new Database(sandbox.databaseUrl.slice('sqlite:'.length), { readonly: true, fileMustExist: true });
    try {
      if (db.pragma('integrity_check', { simple: true }) !== 'ok') return 'integrity check fails';
      const row = db.prepare(query).get() as Record<string, number>;
      return { tenants: row.tenants!, users: row.users!, documents: row.documents! };
    } catch (error) {
      return (error as Error).message;
    } finally {
      db.close();
    }
  }
  return withPg(sandbox.databaseUrl, async (client) => {
    const row = (await client.query<Record<string, string>>(query)).rows[0]!;
    return { tenants: Number(row.tenants), users: Number(row.users), documents: Number(row.documents) };
  });
}

async function exists(sandbox: Sandbox, name: string): Promise<boolean> {
  if (sandbox.kind === 'sqlite') return existsSync(name);
  const admin = new URL(sandbox.databaseUrl);
  admin.pathname = '/postgres';
  return withPg(admin.toString(), async (client) => (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1);
}

async function withPg<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function seeded(sandbox: Sandbox): { tenants: number; users: number; documents: number } {
  return { tenants: sandbox.counts.tenants, users: sandbox.counts.users, documents: sandbox.counts.documents };
}
