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
import type { AlertRecord } from '../../../src/domain/alert.ts';
import type { Gate } from '../../../src/domain/gate.ts';
import { alertBlocks, digestBlocks } from '../../../src/slack/render/alert.ts';
import { gateBlocks } from '../../../src/slack/render/gate.ts';
import { overflowOf } from '../../../src/slack/render/limits.ts';
import { GATE_ACTION } from '../../../src/slack/ids.ts';
import { HOSTILE, HOSTILE_LINE } from '../../helpers/hostile.ts';

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

describe('alertBlocks', () => {
  const alert: AlertRecord = {
    fingerprint: 'fp1',
    alert: `db_down ${HOSTILE.channel}`,
    severity: 'critical',
    state: 'firing',
    summary: `${HOSTILE_LINE} ${HOSTILE.tenKb}`,
    labels: { alertname: 'db_down', [HOSTILE.user]: HOSTILE.here, ...Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`blob${i}`, HOSTILE.tenKb.slice(0, 1024)])) },
    source: 'alertmanager',
    link: 'https://prometheus.example/graph?q=up|x',
    runbookUrl: 'https://wiki.example/runbooks/db',
    alertmanagerUrl: 'javascript:alert(1)',
    truncatedAlerts: 12,
    groupKey: 'g',
    firstFiredAt: '2026-11-26T03:00:00.000Z',
    firingSince: '2026-11-26T03:00:00.000Z',
    lastFiredAt: '2026-11-26T03:00:00.000Z',
    fireCount: 1,
  };

  it('escapes everything external, in the blocks and the fallback text, and fits Slack with the rest kept', () => {
    const message = alertBlocks(alert, { dba: 'S0DBA' });
    const shown = JSON.stringify(message);
    expect(shown).not.toMatch(/<!channel>|<!here|<@U123>|<https:\/\/evil|\u202E|\u200B/);
    expect(message.text).toContain('db_down &lt;!channel&gt;');
    const [head, details] = message.blocks as Array<{ text?: { text: string }; elements?: Array<{ text: string }> }>;
    expect(head!.text!.text.length).toBeLessThanOrEqual(3000);
    const context = details!.elements![0]!.text;
    expect(context.length).toBeLessThanOrEqual(3000);
    expect(context).toContain('⚠️ 12 more alerts were cut by Alertmanager');
    expect(context).toContain('source: https://prometheus.example/graph?q=up|x · <https://wiki.example/runbooks/db|runbook> · Alertmanager: javascript:alert(1)');
    expect(context).toContain('DBA: <!subteam^S0DBA>');
    expect(context.endsWith('…(cut)')).toBe(true);
    expect(overflowOf(message).join('')).toContain('blob7=');
  });

  it('names the acknowledger only as a mention of a real id', () => {
    const acked = alertBlocks({ ...alert, state: 'acknowledged', acknowledgedBy: '<!channel>', acknowledgedAt: '2026-11-26T03:05:00.000Z' });
    expect(JSON.stringify(acked.blocks)).toContain('Acknowledged by &lt;!channel&gt;');
  });

  it('counts what Alertmanager cut once per group in a digest', () => {
    const digest = digestBlocks([alert, { ...alert, fingerprint: 'fp2' }, { ...alert, fingerprint: 'fp3', groupKey: 'other', truncatedAlerts: 3 }]);
    expect(JSON.stringify(digest.blocks)).toContain('15 more alerts were cut by Alertmanager');
    expect(JSON.stringify(digest)).not.toMatch(/<!channel>|<@U123>/);
  });
});

describe('gateBlocks', () => {
  const gate: Gate = {
    id: 'gate-1',
    procedure: 'restore-db',
    gate: 'restore',
    plan: { procedure: 'restore-db', gate: 'restore', title: `Restore the DMS database from ${HOSTILE.channel}`, target: 'live', steps: ['stop'], backups: [], notes: [], request: {}, input: {}, madeAt: '2026-11-26T03:00:00.000Z', hash: 'a'.repeat(64) },
    state: 'awaiting_approval',
    version: 2,
    source: 'slack',
    requester: 'U0REQUESTER',
    channel: 'C0OPS',
    approvalsNeeded: 1,
    approvals: [],
    confirmedBy: 'U0REQUESTER',
    createdAt: '2026-11-26T03:00:00.000Z',
    expiresAt: '2026-11-26T03:15:00.000Z',
  };

  it('asks for confirmation before Approve, which can start the destructive run', () => {
    const { blocks, text } = gateBlocks(gate, new Date('2026-11-26T03:01:00.000Z'));
    const actions = blocks.find((b) => b.type === 'actions') as { elements: Array<{ action_id: string; confirm?: { title: { text: string }; text: { text: string }; style?: string } }> };
    const approve = actions.elements.find((e) => e.action_id === GATE_ACTION.approve)!;
    expect(approve.confirm).toMatchObject({ title: { text: 'Approve this plan?' }, style: 'danger', confirm: { text: 'Approve' }, deny: { text: 'Back' } });
    expect(approve.confirm!.text.text).toContain('Restore the DMS database from &lt;!channel&gt;');
    expect(approve.confirm!.text.text).toContain('aaaaaaaaaaaa');
    expect(approve.confirm!.text.text.length).toBeLessThanOrEqual(300);
    expect(text).not.toContain('<!channel>');
  });

  it('keeps the confirm dialog within its 300 characters for a long plan title', () => {
    const { blocks } = gateBlocks({ ...gate, plan: { ...gate.plan, title: 'x'.repeat(500) } }, new Date());
    const actions = blocks.find((b) => b.type === 'actions') as { elements: Array<{ action_id: string; confirm?: { text: { text: string } } }> };
    expect(actions.elements.find((e) => e.action_id === GATE_ACTION.approve)!.confirm!.text.text).toHaveLength(300);
  });
});
