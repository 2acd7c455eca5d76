import { describe, expect, it } from 'vitest';
import { helpEntries } from '../../../src/commands/registry.ts';
import { DrError } from '../../../src/domain/errors.ts';
import type { StatusReport } from '../../../src/domain/status.ts';
import { errorBlocks } from '../../../src/slack/render/error.ts';
import { helpBlocks } from '../../../src/slack/render/help.ts';
import { historyBlocks } from '../../../src/slack/render/history.ts';
import { statusBlocks } from '../../../src/slack/render/status.ts';
import { backupListBlocks } from '../../../src/slack/render/backups.ts';
import type { BackupRow } from '../../../src/commands/types.ts';

const report: StatusReport = {
  system: 'alphha-dms',
  at: '2026-11-26T03:00:00.000Z',
  overall: 'fail',
  probes: [
    { id: 'database', title: 'DMS database', state: 'fail', summary: 'integrity check failed: <script>&', details: ['sqlite:/srv/a.db'], ms: 12 },
    { id: 'storage', title: 'Document storage', state: 'ok', summary: '40.0 % used', details: ['x'.repeat(5000)], ms: 3 },
  ],
};

describe('statusBlocks', () => {
  it('has a header with the overall state and one section per probe with state, reason and time', () => {
    const { text, blocks } = statusBlocks(report);
    expect(text).toBe('❌ alphha-dms is failing');
    expect(blocks[0]).toMatchObject({ type: 'header', text: { text: '❌ alphha-dms is failing' } });
    expect(blocks[1]).toMatchObject({ block_id: 'status_probe_database', text: { type: 'mrkdwn' } });
    const database = (blocks[1] as { text: { text: string } }).text.text;
    expect(database).toBe('❌ *DMS database* — integrity check failed: &lt;script&gt;&amp; _(12 ms)_\n• sqlite:/srv/a.db');
  });

  it('keeps every section within Slack’s 3000-character limit', () => {
    for (const block of statusBlocks(report).blocks) {
      const text = (block as { text?: { text: string } }).text?.text ?? '';
      expect(text.length).toBeLessThanOrEqual(3000);
    }
  });

  it('dates the report with a Slack date token that falls back to the ISO time', () => {
    const footer = statusBlocks(report).blocks.at(-1);
    expect(JSON.stringify(footer)).toContain(`<!date^${Date.parse(report.at) / 1000}^{date_short_pretty} {time_secs}|2026-11-26T03:00:00.000Z>`);
  });
});

describe('helpBlocks', () => {
  it('lists every registry entry, marking the unbuilt ones', () => {
    const text = (helpBlocks(helpEntries()).blocks[1] as { text: { text: string } }).text.text;
    expect(text.split('\n')).toHaveLength(helpEntries().length);
    expect(text).toContain('`/dr status` — health of the DMS');
    expect(text).toMatch(/`\/dr restore db \[latest\|ID\]` — .*destructive · confirm \+ approve/);
    // Built commands carry no mark; every unbuilt one does.
    for (const entry of helpEntries()) {
      const line = text.split('\n').find((l) => l.includes(`\`/dr ${entry.usage}\``))!;
      expect(line.includes('not built yet')).toBe(!entry.built);
    }
  });
});

describe('errorBlocks', () => {
  it('says what happened and suggests the closest command', () => {
    const { text } = errorBlocks(new DrError('COMMAND_UNKNOWN', '`stauts` is not a /dr command. Nothing was run.', { hint: 'status' }));
    expect(text).toBe('⚠️ `stauts` is not a /dr command. Nothing was run.\nDid you mean `status`? Try `help` for the full list.');
  });
});

describe('historyBlocks', () => {
  it('shows the verdict of a broken chain', () => {
    const { blocks } = historyBlocks([], { ok: false, checked: 3, badId: 4, reason: 'row 3 is missing' });
    expect(JSON.stringify(blocks)).toContain('❌ Chain broken at row #4: row 3 is missing');
    expect(JSON.stringify(blocks)).toContain('No actions recorded yet.');
  });
});

describe('backupListBlocks', () => {
  it('says what prune will do with each backup: kept by a rule, pruned next, or kept as evidence when unverified', () => {
    const row = (id: string, verified: boolean, keptBy: BackupRow['keptBy']): BackupRow => ({ id, kind: 'db', finishedAt: '2026-11-26T02:00:00.000Z', sizeBytes: 2048, verified, keptBy });
    const { blocks } = backupListBlocks([row('db-kept', true, ['daily', 'weekly']), row('db-old', true, []), row('db-damaged', false, [])], '2026-11-26T03:00:00.000Z', []);
    const lines = (blocks[0] as { text: { text: string } }).text.text.split('\n');
    expect(lines).toEqual([
      '`db-kept` · 1 h ago · 2.0 KiB · ✅ verified · daily, weekly',
      '`db-old` · 1 h ago · 2.0 KiB · ✅ verified · _not kept: pruned next_',
      '`db-damaged` · 1 h ago · 2.0 KiB · ❌ unverified · _kept as evidence, not counted by retention_',
    ]);
  });
});
