import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { pagingInto, startTestBot, type TestBot } from '../helpers/bot.ts';
import { askForPlan, confirmByTyping, finishedRun } from '../helpers/gates.ts';
import { tempSandbox } from '../helpers/sandbox.ts';
import { startPagerDutyFake, type PagerDutyFake } from '../fakes/pagerduty-fake.ts';

const OPERATOR = 'U0OPERATOR';

describe('/dr isolate (runbook §3.4)', () => {
  let sandbox: Sandbox;
  let t: TestBot;
  let evidenceDir: string;
  let pagerduty: PagerDutyFake;
  beforeAll(async () => {
    sandbox = await tempSandbox({ config: { slack: { roles: { operators: [OPERATOR] } }, service: { timeout: '20s' } } });
    evidenceDir = path.join(sandbox.dir, 'evidence');
    await sandbox.startServer();
    pagerduty = await startPagerDutyFake();
    t = await startTestBot({ configPath: sandbox.configPath, ...pagingInto(pagerduty) });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    // Evidence folders are read-only by design; make them removable again (a non-root CI user could not).
    const { chmod } = await import('node:fs/promises');
    for (const folder of await readdir(evidenceDir).catch(() => [] as string[])) await chmod(path.join(evidenceDir, folder), 0o700).catch(() => {});
    await sandbox?.destroy();
    await pagerduty?.close();
  });

  it('declares a security incident, preserves read-only evidence with a matching manifest, isolates, and raises the alarm', async () => {
    expect((await fetch(sandbox.healthUrl)).ok).toBe(true);
    const plan = await askForPlan(t, 'isolate', OPERATOR);
    // The isolate gate needs no approval by default: the typed name runs it.
    await confirmByTyping(t, plan, OPERATOR, 'alphha-sandbox');
    const run = await finishedRun(t, plan.gateId, 60_000);
    expect(run.steps.map((s) => `${s.name}: ${s.status}`)).toEqual(run.steps.map((s) => `${s.name}: done`));

    // The isolation command ran: the sandbox is off the network.
    await expect(fetch(sandbox.healthUrl)).rejects.toThrow();

    // Evidence: a manifest whose hashes match its files, who and when, everything read-only.
    const [folder] = await readdir(evidenceDir);
    const dir = path.join(evidenceDir, folder!);
    const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as { collected_by: string; collected_at: string; incident: string; files: Array<{ name: string; sha256: string; size_bytes: number }> };
    expect(manifest.collected_by).toBe(OPERATOR);
    expect(manifest.files.map((f) => f.name).sort()).toEqual(['database.sqlite', 'env', 'service-logs.txt', 'uploads-listing.csv']);
    for (const file of manifest.files) {
      expect(createHash('sha256').update(await readFile(path.join(dir, file.name))).digest('hex')).toBe(file.sha256);
      expect((await stat(path.join(dir, file.name))).mode & 0o777).toBe(0o400);
    }
    expect((await stat(dir)).mode & 0o777).toBe(0o500);
    expect((await readFile(path.join(dir, 'uploads-listing.csv'), 'utf8')).trim().split('\n')).toHaveLength(sandbox.counts.documents + 1);

    // The security incident is open, the alarm went to the security and critical channels, and PagerDuty is queued.
    const secret = /SECRET_KEY=(.+)/.exec(await readFile(sandbox.envFile, 'utf8'))![1]!;
    const incident = await t.bot.deps.store.currentIncident();
    expect(incident).toMatchObject({ id: manifest.incident, kind: 'security' });
    const channels = new Set<unknown>();
    await t.slack.waitFor((c) => {
      if (c.method === 'chat.postMessage' && String(c.body.text).includes('security_isolation')) channels.add(c.body.channel);
      return channels.size === 2;
    }, 15_000);
    expect(channels).toEqual(new Set(['#dr-critical', '#security-incidents']));
    const page = await pagerduty.waitFor((e) => e.body.event_action === 'trigger' && (e.body.payload as { class?: string }).class === 'security_isolation', 15_000);
    expect((page.body.payload as { severity: string }).severity).toBe('critical');
    expect(JSON.stringify(pagerduty.events)).not.toContain(secret);
    // No secret from the .env reached Slack.
    expect(JSON.stringify(t.slack.calls)).not.toContain(secret);
  }, 90_000);
});
