import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebClient } from '@slack/web-api';
import { startProgressMessage } from '../../src/slack/progress-message.ts';
import { startSlackFake, type SlackFake } from '../fakes/slack-api.ts';
import { useSandboxBot } from '../helpers/bot.ts';

describe('/dr backup from Slack', () => {
  const subject = useSandboxBot({ serverDown: true, sandbox: { config: { slack: { roles: { operators: ['U0OPERATOR'] } } } } });

  it('refuses someone without a role, in the ack, running nothing', async () => {
    const response = await subject.t().command('backup db', { user: 'U0STRANGER' });
    expect(JSON.parse(response.body).text).toContain('`operate` commands need a role, and you are not listed in slack.roles');
    expect((await subject.t().bot.deps.store.listCatalog()).length).toBe(0);
  });

  it('lists backups for anyone, but --verify and --rebuild need a role', async () => {
    for (const flag of ['--verify', '--rebuild', 'db --verify']) {
      const refused = await subject.t().command(`backups ${flag}`, { user: 'U0STRANGER' });
      expect(JSON.parse(refused.body).text).toContain('`operate` commands need a role, and you are not listed in slack.roles');
    }
    const listed = await subject.t().command('backups', { user: 'U0STRANGER' });
    expect(listed.status).toBe(200);
    expect(listed.body).not.toContain('need a role');
    const refusals = (await subject.t().bot.deps.store.listAudit()).filter((e) => e.command === 'backups' && e.outcome === 'not_authorized');
    expect(refusals).toHaveLength(3);
  });

  it('posts one message in the channel and replaces it with the verified result', async () => {
    const response = await subject.t().command('backup storage', { user: 'U0OPERATOR' });
    expect(response.status).toBe(200);
    const started = await subject.t().slack.waitFor((c) => c.method === 'chat.postMessage');
    expect(started.body.text).toBe('/dr backup storage running');
    expect(JSON.stringify(started.body.blocks)).toContain('started by <@U0OPERATOR>');
    const ts = (started.response as { ts: string }).ts;
    const final = await subject.t().slack.waitFor((c) => c.method === 'chat.update' && String(c.body.text).startsWith('Backup finished'), 15_000);
    expect(final.body.ts).toBe(ts);
    expect(JSON.stringify(final.body.blocks)).toMatch(/storage\* `storage-\S+` — 50 files/);
    expect((await subject.t().bot.deps.store.listCatalog({ kind: 'storage' })).length).toBe(1);
  });
});

describe('progress message', () => {
  let slack: SlackFake;
  beforeAll(async () => {
    slack = await startSlackFake();
  });
  afterAll(async () => slack?.close());

  it('edits in place with bytes, rate and time left, at most once per interval', async () => {
    const client = new WebClient('xoxb-test', { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } });
    let clock = 1_000_000;
    const progress = await startProgressMessage(client, 'C1', 'backup storage', 'U1', { now: () => clock, intervalMs: 50 });
    clock += 10_000;
    progress.report({ step: 'storage snapshot', bytesDone: 50 * 1024 * 1024, bytesTotal: 200 * 1024 * 1024 });
    progress.report({ step: 'storage snapshot', bytesDone: 100 * 1024 * 1024, bytesTotal: 200 * 1024 * 1024 });
    const edit = await slack.waitFor((c) => c.method === 'chat.update');
    expect(JSON.stringify(edit.body.blocks)).toContain('storage snapshot: 100.0 MiB of 200.0 MiB (50 %) at 10.0 MiB/s, about 10 s left');
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(slack.callsTo('chat.update')).toHaveLength(1);
    expect(await progress.finish({ text: 'done', blocks: [] })).toBe(true);
    expect(slack.callsTo('chat.update').at(-1)!.body.text).toBe('done');
  });

  it('measures the rate of each kind of `backup all` from when that kind started counting', async () => {
    const client = new WebClient('xoxb-test', { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } });
    const before = slack.callsTo('chat.update').length;
    let clock = 2_000_000;
    const progress = await startProgressMessage(client, 'C1', 'backup all', 'U1', { now: () => clock, intervalMs: 10 });
    clock += 60_000;
    progress.report({ step: 'db backup', bytesDone: 600 * 1024 * 1024 });
    // The database took a minute; the snapshot then counts from zero and moves 20 MiB in 2 s.
    progress.report({ step: 'storage snapshot', bytesDone: 0, bytesTotal: 100 * 1024 * 1024 });
    clock += 2_000;
    progress.report({ step: 'storage snapshot', bytesDone: 20 * 1024 * 1024, bytesTotal: 100 * 1024 * 1024 });
    await slack.waitFor(() => slack.callsTo('chat.update').length > before);
    const text = JSON.stringify(slack.callsTo('chat.update').at(-1)!.body.blocks);
    expect(text).toContain('storage snapshot: 20.0 MiB of 100.0 MiB (20 %) at 10.0 MiB/s, about 8.0 s left');
    await progress.finish({ text: 'done', blocks: [] });
  });
});
