// "Every command writes an audit row" across a state store that another process locks: rows wait for a
// short lock, are retried after a long one, and a destructive command without its row does not run.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { composeDeps } from '../../src/compose.ts';
import { executeCommand, record, type DispatchDeps } from '../../src/commands/dispatch.ts';
import { loadConfig } from '../../src/config/load.ts';
import { DrError } from '../../src/domain/errors.ts';
import { captureLogs } from '../helpers/logs.ts';
import { holdWriteLock } from '../helpers/sqlite-lock.ts';

describe('audit rows and a locked or broken state store', () => {
  let dir: string;
  let deps: DispatchDeps;
  let logs: Array<Record<string, unknown>>;
  const stateFile = () => path.join(dir, 'state.db');
  const terminal = (text: string) => ({ source: 'cli' as const, actor: 'alice', channel: 'terminal', text });

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dr-audit-durable-'));
    const captured = captureLogs();
    logs = captured.lines;
    deps = await composeDeps(loadConfig({ DR_STATE: stateFile() }, dir), captured.logger);
  });
  afterEach(async () => {
    await deps.store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a row written while another process holds the lock for 1 s waits for it (BEGIN IMMEDIATE + busy_timeout)', async () => {
    const lock = await holdWriteLock(stateFile(), 1_000);
    await record(deps, terminal('status'), 'status', 'healthy', {});
    await lock.done;
    expect((await deps.store.listAudit()).map((row) => row.command)).toEqual(['status']);
    expect(logs.filter((line) => String(line.msg).startsWith('audit row could not be written'))).toEqual([]);
  });

  it('a row refused during a long lock is retried once the lock is gone, with the time it happened', async () => {
    const lock = await holdWriteLock(stateFile(), 60_000);
    const before = new Date().toISOString();
    await record(deps, terminal('backup db'), 'backup', 'succeeded', { ms: 1 });
    expect(logs.some((line) => line.msg === 'audit row could not be written; it will be retried')).toBe(true);
    lock.release();
    await lock.done;
    await expect.poll(async () => (await deps.store.listAudit()).length, { timeout: 20_000, interval: 250 }).toBe(1);
    const [row] = await deps.store.listAudit();
    expect(row).toMatchObject({ command: 'backup', outcome: 'succeeded', actor: 'alice', detail: expect.objectContaining({ retried: true, ms: 1 }) });
    expect(String(row!.detail.occurredAt) >= before).toBe(true);
    expect(String(row!.detail.occurredAt) <= row!.at).toBe(true);
  }, 40_000);

  it('refuses a destructive command whose audit row cannot be written, and runs nothing', async () => {
    const lock = await holdWriteLock(stateFile(), 60_000);
    try {
      const { result } = await executeCommand(deps, terminal('restore db latest'));
      expect(result).toBeInstanceOf(DrError);
      expect((result as DrError).code).toBe('STATE_UNAVAILABLE');
      expect((result as DrError).userMessage).toMatch(/audit log cannot be written .*refuses destructive commands.*Nothing was run/);
    } finally {
      lock.release();
      await lock.done;
    }
    expect(await deps.store.listOpenGates()).toEqual([]);
  }, 40_000);

  it('refuses a destructive command while the health monitor says the store is broken, even though writes still go through', async () => {
    deps.stateHealth = () => ({ healthy: false, reason: 'the state database was deleted while the bot was running', since: new Date().toISOString() });
    const { result } = await executeCommand(deps, terminal('rotate-secrets'));
    expect((result as DrError).code).toBe('STATE_UNAVAILABLE');
    expect((result as DrError).userMessage).toContain('was deleted');
    expect(await deps.store.listOpenGates()).toEqual([]);
    // Reading commands still run (and are audited as far as the store allows).
    const { result: help } = await executeCommand(deps, terminal('help'));
    expect(help).not.toBeInstanceOf(DrError);
  });
});
