import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { startTestBot, type TestBot } from '../helpers/bot.ts';
import { dr } from '../helpers/cli.ts';
import { postgresAvailable } from '../helpers/pg.ts';
import { sandboxEnv, tempSandbox } from '../helpers/sandbox.ts';

const hasPostgres = await postgresAvailable();
const TRICKY = 'uploaded "Q3, final.pdf"\nfrom 10.0.0.7; note: ü, 😀';

describe('/dr audit from Slack (SQLite DMS)', () => {
  let sandbox: Sandbox;
  let t: TestBot;
  let expected: Array<Record<string, string>>;
  beforeAll(async () => {
    sandbox = await tempSandbox({ config: { slack: { roles: { security: ['U0SECURITY'] } } } });
    const db = new Database(path.join(sandbox.dir, 'data', 'alphha.db'));
    db.prepare("insert into audit_ledger (created_at, actor, action, detail) values (datetime('now', '-5 minutes'), 'mallory', 'download', ?)").run(TRICKY);
    expected = (db.prepare("select id, created_at, actor, action, detail from audit_ledger where created_at >= datetime('now', '-24 hours') order by created_at, id").all() as Array<Record<string, unknown>>).map((row) => ({
      id: String(row.id),
      created_at: new Date(`${String(row.created_at).replace(' ', 'T')}Z`).toISOString(),
      actor: String(row.actor),
      action: String(row.action),
      detail: String(row.detail ?? ''),
    }));
    db.close();
    t = await startTestBot({ configPath: sandbox.configPath });
  });
  afterAll(async () => {
    await t?.close();
    await sandbox?.destroy();
  });

  it('uploads the last 24 h as CSV that parses back to exactly the same rows', async () => {
    const response = await t.command('audit', { user: 'U0SECURITY', channel: 'C0SECURITY' });
    expect(response.status).toBe(200);
    const upload = await t.slack.waitFor((c) => c.method === 'upload_url', 10_000);
    const complete = await t.slack.waitFor((c) => c.method === 'files.completeUploadExternal');
    expect(complete.body.channel_id).toBe('C0SECURITY');
    expect(complete.body.initial_comment).toMatch(new RegExp(`^🧾 ${expected.length} audit_ledger rows from \\S+ to \\S+$`));
    const rows = parse(upload.bytes!.toString('utf8'), { columns: true }) as Array<Record<string, string>>;
    expect(rows).toEqual(expected);
    expect(rows.some((r) => r.detail === TRICKY)).toBe(true);
    expect(expected.length).toBeGreaterThanOrEqual(25);
  });

  it.each(['99999y', '-1h', '400d', '24h; rm -rf /', 'soon'])('refuses `audit %s` in the ack, running nothing', async (arg) => {
    const response = await t.command(`audit ${arg}`, { user: 'U0SECURITY' });
    expect(JSON.parse(response.body).text).toMatch(/`audit` (takes one duration such as 30m, 24h or 7d|covers at most 366 d)/);
  });
});

describe.skipIf(!hasPostgres)('dr audit on a PostgreSQL DMS (CLI)', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await tempSandbox({ database: 'postgres' });
  });
  afterAll(async () => sandbox?.destroy());

  it('prints the CSV on stdout and the summary on stderr', async () => {
    const { code, stdout, stderr } = await dr(['audit', '24h'], sandboxEnv(sandbox));
    expect(code).toBe(0);
    const rows = parse(stdout, { columns: true }) as Array<Record<string, string>>;
    expect(rows.length).toBe(24);
    expect(Object.keys(rows[0]!)).toEqual(['id', 'created_at', 'actor', 'action', 'detail']);
    expect(stderr).toMatch(/^dr: 24 audit_ledger rows from \S+ to \S+$/m);
  });
});
