import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { startTestBot, useSandboxBot, type TestBot } from '../helpers/bot.ts';
import { tempSandbox } from '../helpers/sandbox.ts';

describe('a scheduled backup that fails', () => {
  let sandbox: Sandbox;
  let t: TestBot;
  beforeAll(async () => {
    sandbox = await tempSandbox();
    const broken = path.join(sandbox.dir, 'dr-broken.yml');
    await writeFile(broken, (await readFile(sandbox.configPath, 'utf8')).replace(/url: sqlite:.*/, 'url: sqlite:/nonexistent/alphha.db'));
    // With no backup yet, the bot catches up at start, and this catch-up fails.
    t = await startTestBot({ configPath: broken, schedules: true });
  });
  afterAll(async () => {
    await t?.close();
    await sandbox?.destroy();
  });

  it('raises backup_job_failure in the critical channel with the reason, and audits it', async () => {
    const post = await t.slack.waitFor((c) => c.method === 'chat.postMessage' && c.body.channel === '#dr-critical', 15_000);
    expect(post.body.text).toBe('🚨 backup_job_failure (critical) firing: scheduled backup-db failed');
    expect(JSON.stringify(post.body.blocks)).toContain('SQLite backup of /nonexistent/alphha.db failed');
    // It went through the alert state and the durable outbox like any other alert.
    expect((await t.bot.deps.store.listAlerts({ states: ['firing'] })).map((a) => a.alert)).toEqual(['backup_job_failure']);
    const audit = await t.bot.deps.store.listAudit();
    expect(audit.find((e) => e.outcome === 'backup_job_failure')).toMatchObject({ source: 'scheduler', command: 'backup-db' });
  });
});

describe('a /dr backup someone asked for that fails', () => {
  const subject = useSandboxBot({ serverDown: true, sandbox: { config: { slack: { roles: { operators: ['U0OPERATOR'] } } } } });
  const live = () => path.join(subject.sandbox().dir, 'data', 'alphha.db');

  it('raises backup_job_failure like a scheduled one, and resolves it once a backup works again', async () => {
    // The database file is gone for a moment, as on a disk that went away.
    await rename(live(), `${live()}.away`);
    await subject.t().command('backup db', { user: 'U0OPERATOR' });
    const alert = await subject.t().slack.waitFor((c) => c.method === 'chat.postMessage' && c.body.channel === '#dr-critical', 15_000);
    expect(alert.body.text).toBe('🚨 backup_job_failure (critical) firing: manual backup-db failed');
    expect(JSON.stringify(alert.body.blocks)).toContain('U0OPERATOR');
    expect(JSON.stringify(alert.body.blocks)).toContain(`SQLite backup of ${live()} failed`);
    expect((await subject.t().bot.deps.store.listAlerts({ states: ['firing'] })).map((a) => a.alert)).toEqual(['backup_job_failure']);
    expect(await subject.t().bot.deps.store.listCatalog()).toEqual([]);

    await rename(`${live()}.away`, live());
    await subject.t().command('backup db', { user: 'U0OPERATOR' });
    await expect.poll(async () => (await subject.t().bot.deps.store.listAlerts({ states: ['firing'] })).length, { timeout: 15_000 }).toBe(0);
    expect((await subject.t().bot.deps.store.listCatalog({ kind: 'db' })).length).toBe(1);
  });
});
