import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { startTestBot, type TestBot } from '../helpers/bot.ts';
import { dr } from '../helpers/cli.ts';
import { tempSandbox } from '../helpers/sandbox.ts';

/** The sandbox's documents as the DMS records them, by id. */
function documents(sandbox: Sandbox): Array<{ id: number; file_path: string }> {
  const db = new Database(path.join(sandbox.dir, 'data', 'alphha.db'), { readonly: true });
  const rows = db.prepare('select id, file_path from documents order by id').all() as Array<{ id: number; file_path: string }>;
  db.close();
  return rows;
}

describe('verify checksums', () => {
  let sandbox: Sandbox;
  let t: TestBot;
  beforeAll(async () => {
    sandbox = await tempSandbox({ documents: 120, config: { slack: { roles: { operators: ['U0OPERATOR'] } } } });
    t = await startTestBot({ configPath: sandbox.configPath });
  });
  afterAll(async () => {
    await t?.close();
    await sandbox?.destroy();
  });
  const env = () => ({ DR_CONFIG: sandbox.configPath, DR_STATE: path.join(sandbox.dir, 'cli-state.db') });

  it('passes an intact store (CLI, exit 0)', async () => {
    const { code, stdout } = await dr(['verify', 'checksums'], env());
    expect(code).toBe(0);
    expect(stdout).toMatch(/^✅ All 120 documents match their recorded SHA-256/);
  });

  it('names damaged and missing documents by id (CLI, exit 1)', async () => {
    const docs = documents(sandbox);
    await writeFile(path.join(sandbox.uploadsDir, docs[3]!.file_path), 'damaged');
    await rm(path.join(sandbox.uploadsDir, docs[7]!.file_path));
    const { code, stdout } = await dr(['verify', 'checksums'], env());
    expect(code).toBe(1);
    expect(stdout).toContain('❌ 2 of 120 documents do not match their recorded SHA-256');
    expect(stdout).toMatch(new RegExp(`document ${docs[3]!.id}  ${docs[3]!.file_path}  is [0-9a-f]{12}…, recorded [0-9a-f]{12}…`));
    expect(stdout).toContain(`document ${docs[7]!.id}  ${docs[7]!.file_path}  missing`);
  });

  it('in Slack lists the first 50 problems in the message and uploads all of them as CSV', async () => {
    const docs = documents(sandbox);
    for (const doc of docs.slice(20, 80)) await writeFile(path.join(sandbox.uploadsDir, doc.file_path), `tampered ${doc.id}`);
    await t.command('verify checksums', { user: 'U0OPERATOR' });
    const final = await t.slack.waitFor((c) => c.method === 'chat.update' && String(c.body.text).startsWith('❌'), 20_000);
    expect(final.body.text).toMatch(/^❌ 62 of 120 documents do not match/);
    const text = JSON.stringify(final.body.blocks);
    expect(text).toContain('and 12 more in the attached CSV');
    const upload = await t.slack.waitFor((c) => c.method === 'upload_url');
    const rows = parse(upload.bytes!.toString('utf8'), { columns: true }) as Array<{ id: string; actual: string }>;
    expect(rows).toHaveLength(62);
    expect(rows.find((r) => r.id === String(docs[7]!.id))?.actual).toBe('missing');
  });
});
