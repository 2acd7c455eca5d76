import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { openStateStore } from '../../src/adapters/state/kysely-store.ts';
import { loadConfig } from '../../src/config/load.ts';
import { composeDeps } from '../../src/compose.ts';
import type { StateStore } from '../../src/ports/state-store.ts';
import { startSlackFake, type SlackFake } from '../fakes/slack-api.ts';
import { startTestBot } from '../helpers/bot.ts';
import { dr } from '../helpers/cli.ts';
import { captureLogs } from '../helpers/logs.ts';
import { sandboxEnv, tempSandbox } from '../helpers/sandbox.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('restore db from a terminal', () => {
  let sandbox: Sandbox;
  let slack: SlackFake;
  let env: Record<string, string>;
  let livePath: string;
  beforeAll(async () => {
    sandbox = await tempSandbox({ config: { service: { timeout: '20s' } } });
    await sandbox.startServer();
    slack = await startSlackFake();
    livePath = sandbox.databaseUrl.slice('sqlite:'.length);
    env = { ...sandboxEnv(sandbox), SLACK_BOT_TOKEN: 'xoxb-test-token', SLACK_API_URL: slack.apiUrl };
    const deps = await composeDeps(loadConfig(env), captureLogs('silent').logger);
    await deps.backupDatabase();
    await deps.store.close();
  }, 60_000);
  afterAll(async () => {
    await slack?.close();
    await sandbox?.destroy();
  });

  it('refuses without the typed name off a terminal, and with the wrong one, changing nothing', async () => {
    const before = await sha256(livePath);
    const noName = await dr(['restore', 'db', 'latest'], env);
    expect(noName.code).toBe(2);
    expect(noName.stderr).toContain('pass --confirm alphha-sandbox');
    const wrong = await dr(['restore', 'db', 'latest', '--confirm', 'alphha-prod'], env);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('not the system name');
    expect(await sha256(livePath)).toBe(before);
  });

  it('stops at the approval a terminal cannot give', async () => {
    const result = await dr(['restore', 'db', 'latest', '--confirm', 'alphha-sandbox'], env);
    expect(result.code).toBe(3);
    expect(result.stdout).toContain('needs 1 approval(s)');
    expect(result.stdout).toContain('--break-glass');
  });

  it('refuses a damaged dump: caught by its SHA-256 before any swap, the half-restored copy removed, live untouched', async () => {
    const { readdir, open: openFile, stat: statFile } = await import('node:fs/promises');
    const store = await openStateStore(env.DR_STATE!);
    const [backup] = await store.listCatalog({ kind: 'db' });
    await store.close();
    const dump = path.join(sandbox.manifest.backupsDir, backup!.files[0]!.key);
    const original = await readFile(dump);
    const handle = await openFile(dump, 'r+');
    await handle.write(Buffer.from([original[original.length - 10]! ^ 0xff]), 0, 1, original.length - 10);
    await handle.close();
    const before = await sha256(livePath);
    try {
      const result = await dr(['restore', 'db', 'latest', '--confirm', 'alphha-sandbox', '--break-glass'], env);
      expect(result.code).toBe(1);
      expect(result.stdout).toContain(`${backup!.id} is damaged`);
      expect(await sha256(livePath)).toBe(before);
      expect((await readdir(path.dirname(livePath))).filter((name) => name.includes('.restore-'))).toEqual([]);
      expect((await statFile(livePath)).isFile()).toBe(true);
    } finally {
      const { writeFile } = await import('node:fs/promises');
      await writeFile(dump, original);
    }
  });

  it('runs with --break-glass, announcing it in every channel and auditing it', async () => {
    await sandbox.corruptDatabase();
    const result = await dr(['restore', 'db', 'latest', '--confirm', 'alphha-sandbox', '--break-glass'], env);
    expect(result.stdout).toContain('restore-db');
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('BREAK-GLASS');
    const channels = slack.callsTo('chat.postMessage').filter((c) => String(c.body.text).includes('BREAK-GLASS')).map((c) => c.body.channel);
    expect(new Set(channels)).toEqual(new Set(['#dr-critical', '#dr-warnings', '#dr-stakeholders', '#security-incidents']));
    expect(integrityOf(livePath)).toBe('ok');
    const store = await openStateStore(env.DR_STATE!);
    expect((await store.listAudit()).map((e) => e.outcome)).toEqual(expect.arrayContaining(['plan_proposed', 'break_glass', 'run_started', 'run_succeeded']));
    await store.close();
  });
});

describe('kill -9 during each step of a restore', () => {
  let sandbox: Sandbox;
  let env: Record<string, string>;
  let livePath: string;
  let store: StateStore;
  beforeAll(async () => {
    // Slow stop and start commands, so a kill can land while each of them runs.
    sandbox = await tempSandbox({ config: { service: { timeout: '20s' } } });
    const manifestConfig = await readFile(sandbox.configPath, 'utf8');
    const slowed = manifestConfig.replace(/^(\s+)(stop|start): (.*)$/gm, (_line, indent: string, key: string, command: string) => `${indent}${key}: ${JSON.stringify(`sleep 1; ${command}`)}`);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(sandbox.configPath, slowed);
    await sandbox.startServer();
    livePath = sandbox.databaseUrl.slice('sqlite:'.length);
    env = sandboxEnv(sandbox);
    const deps = await composeDeps(loadConfig(env), captureLogs('silent').logger);
    await deps.backupDatabase();
    await deps.store.close();
    store = await openStateStore(env.DR_STATE!);
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    await sandbox?.destroy();
  });

  it('leaves the live database either the old one or the restored one, and the run interrupted', async () => {
    const killedDuring = new Set<string>();
    for (let step = 0; step < 7; step += 1) {
      await sandbox.startServer().catch(() => {});
      await sandbox.corruptDatabase();
      const corrupted = await sha256(livePath);
      const earlierRuns = new Set((await store.listRuns({ limit: 100 })).map((r) => r.id));
      const child = spawn(process.execPath, [path.join(ROOT, 'bin/dr.mjs'), 'restore', 'db', 'latest', '--confirm', 'alphha-sandbox', '--break-glass'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
        stdio: 'ignore',
      });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      // Kill as soon as the step is running (or, for a step too quick to catch, as soon as it is past).
      let target: string | undefined;
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && child.exitCode === null) {
        // Only this child's run: the runs of children killed before stay `running` until a bot marks them.
        const run = (await store.listRuns({ status: 'running', limit: 20 })).find((r) => !earlierRuns.has(r.id));
        const current = run?.steps.findIndex((s) => s.status === 'running') ?? -1;
        if (run && current >= step) {
          child.kill('SIGKILL');
          target = run.steps[current]!.name;
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await exited;
      if (target) killedDuring.add(target);
      // Never partial: byte for byte the old file, or a whole, checked restored database.
      const now = await sha256(livePath);
      if (now !== corrupted) {
        expect(integrityOf(livePath)).toBe('ok');
        expect(countsOf(livePath)).toEqual({ tenants: sandbox.counts.tenants, users: sandbox.counts.users, documents: sandbox.counts.documents });
      }
    }
    expect(killedDuring.size).toBeGreaterThanOrEqual(4);
    expect([...killedDuring]).toEqual(expect.arrayContaining(['stop the service', 'start the service', 'wait for the health check']));

    // A run killed before its swap left its restored copy beside the live file (the kill during "stop the service", at least).
    const scratchFiles = async () => (await readdir(path.dirname(livePath))).filter((name) => name.startsWith(`${path.basename(livePath)}.restore-`));
    expect((await scratchFiles()).length).toBeGreaterThan(0);

    // The bot finds every killed run at start-up, marks it interrupted with its last finished step, and says so.
    const t = await startTestBot({ configPath: sandbox.configPath, state: env.DR_STATE! });
    try {
      const runs = await t.bot.deps.store.listRuns({ procedure: 'restore-db' });
      expect(runs.length).toBeGreaterThanOrEqual(7);
      expect(runs.filter((r) => r.status === 'running')).toEqual([]);
      const interrupted = runs.filter((r) => r.status === 'interrupted');
      expect(interrupted.length).toBeGreaterThanOrEqual(killedDuring.size);
      expect(interrupted.every((r) => typeof r.summary.interruptedAfter === 'string')).toBe(true);
      const alert = await t.slack.waitFor((c) => c.method === 'chat.postMessage' && c.body.channel === '#dr-critical' && String(c.body.text).includes('run_interrupted'));
      expect(String(alert.body.text)).toContain('was interrupted');
      // Every run recorded the scratch database it would fill before its first step; start-up dropped them all.
      expect(interrupted.every((r) => typeof (r.summary.leftovers as { scratchLabel?: unknown } | undefined)?.scratchLabel === 'string')).toBe(true);
      await expect.poll(scratchFiles, { timeout: 15_000 }).toEqual([]);
    } finally {
      await t.close();
    }
  }, 240_000);
});

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

function integrityOf(file: string): string {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } catch (error) {
    return (error as Error).message;
  } finally {
    db.close();
  }
}

function countsOf(file: string): { tenants: number; users: number; documents: number } {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT (SELECT count(*) FROM tenants) AS tenants, (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM documents) AS documents').get() as { tenants: number; users: number; documents: number };
  } finally {
    db.close();
  }
}

describe('restore undo after ransomware overwrote the database header', () => {
  let sandbox: Sandbox;
  let env: Record<string, string>;
  let livePath: string;
  beforeAll(async () => {
    sandbox = await tempSandbox({ documents: 20, config: { service: { timeout: '10s' } } });
    await sandbox.startServer();
    livePath = sandbox.databaseUrl.slice('sqlite:'.length);
    env = sandboxEnv(sandbox);
    expect((await dr(['backup', 'db'], env)).code).toBe(0);
  }, 90_000);
  afterAll(async () => sandbox?.destroy());

  it('restores over it, and undo puts exactly those bytes back, saying plainly that they fail the check', { timeout: 240_000 }, async () => {
    const { open: openFile, readFile: read } = await import('node:fs/promises');
    const handle = await openFile(livePath, 'r+');
    await handle.write(Buffer.from('ENCRYPTED BY XYZ'), 0, 16, 0);
    await handle.close();
    const damaged = await read(livePath);

    const restored = await dr(['restore', 'db', 'latest', '--confirm', 'alphha-sandbox', '--break-glass'], env, { timeoutMs: 120_000 });
    expect(restored.code).toBe(0);
    expect(restored.stderr).toContain('✅ check integrity and counts, and that the swap can be made');
    expect(integrityOf(livePath)).toBe('ok');

    const undone = await dr(['restore', 'undo', '--confirm', 'alphha-sandbox', '--break-glass'], env, { timeoutMs: 120_000 });
    // The plan says it before anything runs; the check is a warning, not a tick; the bytes go back as they were.
    expect(undone.stdout).toContain('FAILS its integrity check');
    expect(undone.stderr).toMatch(/⚠️ check the kept database and that it can be swapped back — .*FAILS its integrity check/);
    expect(undone.stderr).not.toMatch(/✅ check the kept database/);
    expect(undone.stderr).toContain('✅ swap the kept database back in — put back byte for byte');
    expect((await read(livePath)).equals(damaged)).toBe(true);
    // The DMS cannot work on it: the run ends at the health check, with the service started again.
    expect(undone.code).toBe(1);
    expect(undone.stdout).toContain('Failed at: wait for the health check');
  });
});
