import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { startTestBot, type TestBot } from '../helpers/bot.ts';
import { runThroughGate } from '../helpers/gates.ts';
import { tempSandbox } from '../helpers/sandbox.ts';

const OPERATOR = 'U0OPERATOR';
const APPROVER = 'U0APPROVER';

describe('/dr restore storage through Slack', () => {
  let sandbox: Sandbox;
  let t: TestBot;
  beforeAll(async () => {
    sandbox = await tempSandbox({ config: { slack: { roles: { operators: [OPERATOR], approvers: [APPROVER] } } } });
    await sandbox.startServer();
    t = await startTestBot({ configPath: sandbox.configPath });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await sandbox?.destroy();
  });

  it('rewrites exactly the deleted and damaged documents, and every checksum matches afterwards', async () => {
    const snapshot = await t.bot.deps.backupStorage();
    expect(snapshot.verified).toBe(true);
    const documents = snapshot.documents!.map((d) => d.path).sort();
    const deleted = documents.slice(0, 3);
    const damaged = documents.slice(10, 12);
    const untouched = documents.slice(20, 30);
    for (const file of deleted) await rm(path.join(sandbox.uploadsDir, file));
    for (const file of damaged) {
      const full = path.join(sandbox.uploadsDir, file);
      const bytes = await readFile(full);
      bytes[0] = bytes[0]! ^ 0xff;
      await writeFile(full, bytes);
    }
    const before = await Promise.all(untouched.map(async (file) => (await stat(path.join(sandbox.uploadsDir, file))).mtimeMs));

    const run = await runThroughGate(t, 'restore storage latest', { requester: OPERATOR, approver: APPROVER }, 'alphha-sandbox');
    expect(run.status).toBe('succeeded');
    expect(run.steps.find((s) => s.name === 'find missing or damaged documents')?.detail).toContain('3 missing, 2 damaged or unreadable to write back');
    expect(run.summary).toMatchObject({ backupId: snapshot.id, written: 5 });
    expect(run.steps.at(-1)?.detail).toBe(`all ${documents.length} documents match their recorded SHA-256`);
    const after = await Promise.all(untouched.map(async (file) => (await stat(path.join(sandbox.uploadsDir, file))).mtimeMs));
    expect(after).toEqual(before);
    const report = await t.bot.deps.verifyChecksums();
    expect(report.problems).toEqual([]);
  }, 120_000);
});
