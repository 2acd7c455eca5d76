import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { startTestBot, type TestBot } from '../helpers/bot.ts';
import { runThroughGate } from '../helpers/gates.ts';
import { tempSandbox } from '../helpers/sandbox.ts';

const OPERATOR = 'U0OPERATOR';
const APPROVER = 'U0APPROVER';

describe('/dr restore all after a complete loss (runbook §3.3)', () => {
  let sandbox: Sandbox;
  let t: TestBot;
  beforeAll(async () => {
    sandbox = await tempSandbox({ config: { slack: { roles: { operators: [OPERATOR], approvers: [APPROVER] } }, service: { timeout: '20s' } } });
    await sandbox.startServer();
    t = await startTestBot({ configPath: sandbox.configPath, env: { DR_BACKUP_KEY: 'restore-all-test-key' } });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await sandbox?.destroy();
  });

  it('brings back config, database and documents in one gated run, migrates, starts, and reminds about DNS', async () => {
    for (const take of [t.bot.deps.backupDatabase, t.bot.deps.backupStorage, t.bot.deps.backupConfig]) expect((await take()).verified).toBe(true);
    const env = await readFile(sandbox.envFile, 'utf8');

    // Everything is lost: the service, the database file, the .env and every document.
    await sandbox.stopServer();
    const live = sandbox.databaseUrl.slice('sqlite:'.length);
    await rm(live);
    await rm(sandbox.envFile);
    for (const entry of await readdir(sandbox.uploadsDir)) await rm(path.join(sandbox.uploadsDir, entry), { recursive: true });

    const run = await runThroughGate(t, 'restore all', { requester: OPERATOR, approver: APPROVER }, 'alphha-sandbox');
    expect(run.steps.filter((s) => s.status !== 'done').map((s) => `${s.name}: ${s.detail}`)).toEqual([]);
    expect(run.status).toBe('succeeded');
    expect(run.steps.map((s) => s.name)).toEqual([
      'fetch the config archive and check its SHA-256',
      'fetch the backup',
      'restore it into a new database beside the live one, checking its SHA-256 meanwhile',
      'check integrity and counts, and that the swap can be made',
      'check storage health',
      'stop the service',
      'restore the configuration files',
      'swap the restored database in (the old one is kept)',
      'find missing or damaged documents',
      'write them back from the snapshot',
      'start the service',
      'run the migrations',
      'wait for the health check',
      'check every document against the database',
    ]);
    expect(await readFile(sandbox.envFile, 'utf8')).toBe(env);
    expect(existsSync(live)).toBe(true);
    expect(run.summary).toMatchObject({ written: sandbox.counts.documents, counts: { documents: sandbox.counts.documents, users: sandbox.counts.users, tenants: sandbox.counts.tenants } });
    expect(run.summary.manual).toEqual([expect.stringContaining('DNS')]);
    const checklist = t.slack.calls.filter((c) => c.method === 'chat.update' && JSON.stringify(c.body.blocks ?? '').includes('run_facts')).at(-1);
    expect(JSON.stringify(checklist?.body.blocks)).toContain('Still to do by hand');
    expect((await t.bot.deps.verifyChecksums()).problems).toEqual([]);
    expect((await t.bot.deps.currentStatus()).probes.find((p) => p.id === 'health')?.state).toBe('ok');
  }, 150_000);
});
