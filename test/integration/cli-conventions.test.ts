// The built CLI (bin/dr.mjs → dist/) as scripts use it: results on stdout, everything else on stderr,
// one JSON document with --json, the contract's exit codes, help that runs nothing, no silent defaults.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { BOT_VERSION } from '../../src/version.ts';
import { dr } from '../helpers/cli.ts';
import { sandboxEnv, tempSandbox } from '../helpers/sandbox.ts';

/** Parses stdout as exactly one JSON document (JSON.parse rejects anything after it). */
const oneDocument = (stdout: string) => JSON.parse(stdout) as Record<string, unknown>;

describe('dr CLI conventions', () => {
  let sandbox: Sandbox;
  let env: Record<string, string>;
  beforeAll(async () => {
    sandbox = await tempSandbox();
    await sandbox.startServer();
    env = sandboxEnv(sandbox);
  }, 60_000);
  afterAll(async () => sandbox?.destroy());

  it('prints the version, on its own and as JSON, without reading any configuration', async () => {
    const plain = await dr(['--version'], { DR_CONFIG: '/nonexistent/dr.yml' });
    expect(plain).toMatchObject({ code: 0, stdout: `dr ${BOT_VERSION}\n`, stderr: '' });
    expect(oneDocument((await dr(['-V', '--json'], {})).stdout)).toEqual({ version: BOT_VERSION });
  });

  it('answers COMMAND --help with that command’s usage and runs nothing', async () => {
    const restore = await dr(['restore', '--help'], env);
    expect(restore.code).toBe(0);
    for (const usage of ['dr restore db [latest|ID]', 'dr restore storage [latest|ID]', 'dr restore all', 'dr restore undo']) expect(restore.stdout).toContain(`Usage: ${usage}`);
    expect(restore.stdout).toContain('Risk: destructive');
    expect(restore.stdout).not.toContain('Did you mean');
    const one = await dr(['backup', 'db', '-h'], env);
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/^Usage: dr backup \[db\|storage\|config\|all\]/);
    // Nothing ran: no audit row, no backup.
    expect(existsSync(env.DR_STATE!)).toBe(false);
    expect(existsSync(path.join(sandbox.dir, 'backups', 'manifests'))).toBe(false);
  });

  it('never suggests a destructive command for a help request or a typo of a safe one', async () => {
    for (const args of [['--version-info'], ['restore', '--halp'], ['stats'], ['verfy', 'checksums'], ['bakcup']]) {
      const { code, stdout, stderr } = await dr(args, env);
      expect(code, args.join(' ')).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).not.toMatch(/Did you mean `(restore|isolate|rotate-secrets)/);
    }
  });

  it('writes errors to stderr only, so a redirected result never holds them', async () => {
    const { code, stdout, stderr } = await dr(['audit', '7x'], env);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^dr: .*7x/);
  });

  it('prints exactly one JSON document on stdout for every command, success or error', async () => {
    const cases: Array<{ args: string[]; code: number; key: string }> = [
      { args: ['help'], code: 0, key: 'help' },
      { args: ['status'], code: 1, key: 'report' },
      { args: ['backups'], code: 0, key: 'rows' },
      { args: ['alerts'], code: 0, key: 'alerts' },
      { args: ['history', '5', '--verify'], code: 0, key: 'verdict' },
      { args: ['audit', '1h'], code: 0, key: 'csv' },
      { args: ['checklist'], code: 2, key: 'error' },
      { args: ['nonsense'], code: 2, key: 'error' },
      { args: ['audit', '7x'], code: 2, key: 'error' },
      // A gated plan off a terminal: the plan and its refusal, in one document.
      { args: ['restore', 'db', 'latest'], code: 2, key: 'error' },
      { args: ['restore', 'undo'], code: 2, key: 'error' },
    ];
    for (const { args, code, key } of cases) {
      const result = await dr([...args, '--json'], env);
      expect(result.code, args.join(' ')).toBe(code);
      expect(oneDocument(result.stdout), args.join(' ')).toHaveProperty(key);
    }
  }, 120_000);

  it('exits 1 when the audit chain is broken', async () => {
    expect((await dr(['history', '--verify'], env)).code).toBe(0);
    const db = new Database(env.DR_STATE!);
    db.prepare("UPDATE audit_log SET outcome = 'tampered' WHERE id = (SELECT min(id) FROM audit_log)").run();
    db.close();
    const { code, stdout } = await dr(['history', '--verify'], env);
    expect(code).toBe(1);
    expect(stdout).toMatch(/❌ chain broken at row #\d+/);
  }, 60_000);

  it('prints a bash and a zsh completion script that bash accepts', async () => {
    for (const shell of ['bash', 'zsh']) {
      const { code, stdout } = await dr(['completion', shell], {});
      expect(code).toBe(0);
      expect(stdout).toContain('complete -F _dr_complete dr');
    }
    const script = (await dr(['completion', 'bash'], {})).stdout;
    // Complete `dr restore ` and `dr ver` the way bash would.
    const probe = `${script}\nCOMP_WORDS=(dr restore ''); COMP_CWORD=2; _dr_complete; echo "\${COMPREPLY[*]}"\nCOMP_WORDS=(dr ver); COMP_CWORD=1; _dr_complete; echo "\${COMPREPLY[*]}"`;
    const { stdout } = await promisify(execFile)('bash', ['-c', probe]);
    expect(stdout.split('\n').slice(0, 2)).toEqual(['db storage all undo', 'verify']);
    expect((await dr(['completion', 'fish'], {})).code).toBe(2);
  });

  it('warns once, naming dr.yml and DR_CONFIG, when it runs on built-in defaults', async () => {
    const cwd = await mkdtemp(path.join(tmpdir(), 'dr-noconfig-'));
    try {
      const { execFile: exec } = await import('node:child_process');
      const ROOT = path.resolve(import.meta.dirname, '../..');
      const result = await new Promise<{ stderr: string }>((resolve) =>
        exec(process.execPath, [path.join(ROOT, 'bin/dr.mjs'), 'history'], { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DR_STATE: path.join(cwd, 'state.db') } }, (_e, _o, stderr) => resolve({ stderr })),
      );
      const warnings = result.stderr.split('\n').filter((l) => l.includes('built-in defaults'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/no dr\.yml in .* and DR_CONFIG is unset/);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });

  it('refuses a DR_STATE whose folder does not exist, and creates nothing', async () => {
    const parent = await mkdtemp(path.join(tmpdir(), 'dr-state-typo-'));
    try {
      const { code, stdout, stderr } = await dr(['status'], { ...env, DR_STATE: path.join(parent, 'sttae', 'dr-state.db') });
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toContain(`The state folder ${path.join(parent, 'sttae')} does not exist`);
      expect(await readdir(parent)).toEqual([]);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });

  it('says so when it starts a new, empty state store', async () => {
    const parent = await mkdtemp(path.join(tmpdir(), 'dr-state-new-'));
    try {
      const { stderr } = await dr(['alerts'], { ...env, DR_STATE: path.join(parent, 'dr-state.db') });
      expect(stderr).toMatch(/no state store at .*dr-state\.db: started a new, empty one/);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });
});
