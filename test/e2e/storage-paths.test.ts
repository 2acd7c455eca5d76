import { createHash } from 'node:crypto';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { startSlackFake, type SlackFake } from '../fakes/slack-api.ts';
import { dr } from '../helpers/cli.ts';
import { sandboxEnv, tempSandbox } from '../helpers/sandbox.ts';

const SYSTEM = 'alphha-sandbox';
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Runs one statement against the sandbox's DMS database (SQLite file or PostgreSQL), `?` placeholders. */
async function dmsExec(sandbox: Sandbox, sql: string, params: unknown[] = []): Promise<void> {
  if (sandbox.kind === 'sqlite') {
    const db = new Database(sandbox.databaseUrl.slice('sqlite:'.length));
    try {
      db.prepare(sql).run(...params);
    } finally {
      db.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: sandbox.databaseUrl });
  await client.connect();
  try {
    let n = 0;
    await client.query(sql.replace(/\?/g, () => `$${(n += 1)}`), params);
  } finally {
    await client.end();
  }
}

/** The documents as the DMS lists them: id, file_path, and the storage-relative path the seed wrote. */
async function dmsDocuments(sandbox: Sandbox): Promise<Array<{ id: number; filePath: string; sha256: string }>> {
  const sql = 'select id, file_path, checksum_sha256 from documents order by id';
  if (sandbox.kind === 'sqlite') {
    const db = new Database(sandbox.databaseUrl.slice('sqlite:'.length), { readonly: true });
    try {
      return (db.prepare(sql).all() as Array<{ id: number; file_path: string; checksum_sha256: string }>).map((r) => ({ id: r.id, filePath: r.file_path, sha256: r.checksum_sha256 }));
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: sandbox.databaseUrl });
  await client.connect();
  try {
    return (await client.query<{ id: string; file_path: string; checksum_sha256: string }>(sql)).rows.map((r) => ({ id: Number(r.id), filePath: r.file_path, sha256: r.checksum_sha256 }));
  } finally {
    await client.end();
  }
}

/** Every file under the uploads folder whose bytes do not match what the DMS recorded, by document id. */
async function wrongFiles(sandbox: Sandbox, relativeOf: (filePath: string) => string): Promise<number[]> {
  const wrong: number[] = [];
  for (const doc of await dmsDocuments(sandbox)) {
    const bytes = await readFile(path.join(sandbox.uploadsDir, relativeOf(doc.filePath))).catch(() => undefined);
    if (!bytes || sha256(bytes) !== doc.sha256) wrong.push(doc.id);
  }
  return wrong;
}

function damage(file: string): Promise<void> {
  return readFile(file).then((bytes) => {
    bytes[0] = bytes[0]! ^ 0xff;
    return writeFile(file, bytes);
  });
}

describe.each(['sqlite', 'postgres'] as const)('document paths and storage restores through the CLI (%s DMS)', (database) => {
  let slack: SlackFake;
  beforeAll(async () => {
    slack = await startSlackFake();
  });
  afterAll(async () => {
    await slack?.close();
  });
  const envOf = (sandbox: Sandbox) => ({ ...sandboxEnv(sandbox), SLACK_BOT_TOKEN: 'xoxb-test-token', SLACK_API_URL: slack.apiUrl });
  const restore = (sandbox: Sandbox) => dr(['restore', 'storage', 'latest', '--confirm', SYSTEM, '--break-glass'], envOf(sandbox));

  describe('a DMS that stores absolute paths under the uploads folder', () => {
    let sandbox: Sandbox;
    const relativeOf = (filePath: string) => path.relative(sandbox.uploadsDir, filePath);
    beforeAll(async () => {
      sandbox = await tempSandbox({ database, documents: 20 });
      await dmsExec(sandbox, "update documents set file_path = ? || '/' || file_path", [sandbox.uploadsDir]);
    }, 60_000);
    afterAll(async () => {
      await sandbox?.destroy();
    });

    it('verifies, snapshots and restores them: deleted and damaged documents come back, the rest is untouched', async () => {
      const docs = await dmsDocuments(sandbox);
      expect(docs.every((d) => d.filePath.startsWith(`${sandbox.uploadsDir}/`))).toBe(true);
      const verify = await dr(['verify', 'checksums'], envOf(sandbox));
      expect(verify.stdout).toContain(`All ${docs.length} documents match`);
      expect(verify.code).toBe(0);
      const backup = await dr(['backup', 'storage'], envOf(sandbox));
      expect(backup.code).toBe(0);
      expect(backup.stdout).toContain(`${docs.length} files`);
      expect(backup.stdout).not.toMatch(/missing|mismatch/);

      const [gone1, gone2, damaged] = [docs[2]!, docs[7]!, docs[11]!];
      await rm(gone1.filePath);
      await rm(gone2.filePath);
      await damage(damaged.filePath);
      const untouched = await stat(docs[0]!.filePath);
      const result = await restore(sandbox);
      expect(result.stdout).toContain('2 missing, 1 damaged or unreadable to write back');
      expect(result.stdout).toMatch(/Taken from: 3 × storage-\d{8}T\d{6}Z-[0-9a-f]+: documents /);
      expect(result.stdout).not.toContain('Data lost');
      expect(result.code).toBe(0);
      expect(await wrongFiles(sandbox, relativeOf)).toEqual([]);
      expect((await stat(docs[0]!.filePath)).mtimeMs).toBe(untouched.mtimeMs);
    }, 120_000);

    it('recreates a whole uploads folder that is gone, and writes every document back; nothing is called data lost', async () => {
      const docs = await dmsDocuments(sandbox);
      await rm(sandbox.uploadsDir, { recursive: true });
      const result = await restore(sandbox);
      expect(result.stdout).toContain(`${sandbox.uploadsDir} did not exist: created it`);
      expect(result.stdout).toContain(`${docs.length} missing, 0 damaged or unreadable to write back`);
      expect(result.stdout).toContain(`Documents written back: ${docs.length}`);
      expect(result.stdout).not.toContain('Data lost');
      expect(result.code).toBe(0);
      expect(await wrongFiles(sandbox, relativeOf)).toEqual([]);
    }, 120_000);

    it('with `latest` taken after the damage, takes the good bytes from the older snapshot and says so', async () => {
      const docs = await dmsDocuments(sandbox);
      const first = await dr(['backup', 'storage'], envOf(sandbox));
      expect(first.code).toBe(0);
      const older = /storage-\d{8}T\d{6}Z-[0-9a-f]+/.exec(first.stdout)![0];
      const [damaged, gone] = [docs[4]!, docs[9]!];
      await damage(damaged.filePath);
      await rm(gone.filePath);
      // Taken after the damage: it holds the damaged bytes and lacks the deleted file.
      await dr(['backup', 'storage'], envOf(sandbox));
      const result = await restore(sandbox);
      expect(result.stdout).toContain(`Taken from: 2 × ${older}: documents ${[damaged.id, gone.id].sort((a, b) => a - b).join(', ')}`);
      expect(result.stdout).not.toMatch(/Cannot be restored|Data lost/);
      expect(result.code).toBe(0);
      expect(await wrongFiles(sandbox, relativeOf)).toEqual([]);
    }, 120_000);
  });

  describe('a containerised DMS: absolute paths under storage.path_prefix', () => {
    let sandbox: Sandbox;
    const relativeOf = (filePath: string) => path.posix.relative('/app/uploads', filePath);
    beforeAll(async () => {
      sandbox = await tempSandbox({ database, documents: 20, config: { storage: { path_prefix: '/app/uploads' } } });
      await dmsExec(sandbox, "update documents set file_path = '/app/uploads/' || file_path");
    }, 60_000);
    afterAll(async () => {
      await sandbox?.destroy();
    });

    it('maps them onto storage.path for verify, backup and restore', async () => {
      const docs = await dmsDocuments(sandbox);
      expect(docs[0]!.filePath).toMatch(/^\/app\/uploads\/tenant-/);
      expect((await dr(['verify', 'checksums'], envOf(sandbox))).code).toBe(0);
      const backup = await dr(['backup', 'storage'], envOf(sandbox));
      expect(backup.code).toBe(0);
      expect(backup.stdout).not.toMatch(/missing|mismatch/);
      const gone = docs.slice(0, 5);
      for (const doc of gone) await rm(path.join(sandbox.uploadsDir, relativeOf(doc.filePath)));
      const result = await restore(sandbox);
      expect(result.stdout).toContain('5 missing, 0 damaged');
      expect(result.code).toBe(0);
      expect(await wrongFiles(sandbox, relativeOf)).toEqual([]);
    }, 120_000);

    it('refuses a file path outside both folders and names the reason, grouped, in every command', async () => {
      const docs = await dmsDocuments(sandbox);
      const outside = path.join(sandbox.dir, 'elsewhere', 'stolen.pdf');
      const [escaping, gone] = [docs[3]!, docs[6]!];
      await dmsExec(sandbox, 'update documents set file_path = ? where id = ?', [outside, escaping.id]);
      await dmsExec(sandbox, "update documents set file_path = '/app/uploads/../secrets.env' where id = ?", [docs[8]!.id]);
      await rm(path.join(sandbox.uploadsDir, relativeOf(gone.filePath)));

      const verify = await dr(['verify', 'checksums'], envOf(sandbox));
      expect(verify.code).toBe(1);
      expect(verify.stdout).toContain(`2 × path escapes the uploads folder: documents ${[escaping.id, docs[8]!.id].sort((a, b) => a - b).join(', ')}`);
      expect(verify.stdout).toContain(`1 × missing: document ${gone.id}`);

      const backup = await dr(['backup', 'storage'], envOf(sandbox));
      expect(backup.stdout).toContain(`file path outside the uploads folder (refused): ${outside}`);

      const result = await restore(sandbox);
      expect(result.code).toBe(1);
      expect(result.stdout).toContain(`Cannot be restored (lost): 2 × path escapes the uploads folder: documents`);
      expect(result.stdout).toMatch(new RegExp(`Taken from: 1 × storage-\\S+: document ${gone.id}`));
      expect(result.stdout).not.toContain('Data lost');
      // Nothing was written outside the uploads folder; the missing document inside it came back.
      await expect(readdir(path.dirname(outside))).rejects.toMatchObject({ code: 'ENOENT' });
      expect(sha256(await readFile(path.join(sandbox.uploadsDir, relativeOf(gone.filePath))))).toBe(gone.sha256);
    }, 120_000);
  });
});
