import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import type { BackupManifest } from '../../src/backup/manifest.ts';
import { ageWithPassphrase } from '../helpers/age-cli.ts';
import { dr } from '../helpers/cli.ts';
import { sandboxEnv, tempSandbox } from '../helpers/sandbox.ts';

const KEY = 'the backup passphrase for these tests';
const AGE_LINE = 'age-encryption.org/v1\n';
// A process meeting a key runs scrypt (2^18) once or twice: seconds on a busy machine.
const SLOW = { timeoutMs: 120_000 };
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

describe('backups encrypted at rest with DR_BACKUP_KEY (age)', () => {
  let sandbox: Sandbox;
  let env: Record<string, string>;
  let keyed: Record<string, string>;
  let plainDb: BackupManifest;
  const taken: Partial<Record<'db' | 'storage' | 'config', BackupManifest>> = {};
  const repo = (key: string) => path.join(sandbox.dir, 'backups', key);
  const manifest = async (id: string) => JSON.parse(await readFile(repo(`manifests/${id}.json`), 'utf8')) as BackupManifest;
  const backup = async (kind: 'db' | 'storage' | 'config', environment: Record<string, string>) => {
    const result = await dr(['backup', kind], environment, SLOW);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    return manifest(new RegExp(`(${kind}-\\d{8}T\\d{6}Z-[0-9a-f]{4})`).exec(result.stdout)![1]!);
  };
  const ageDecrypt = async (file: string, passphrase = KEY) => {
    const out = `${file}.decrypted-${Math.random().toString(36).slice(2)}`;
    const result = await ageWithPassphrase('decrypt', file, path.join(sandbox.dir, path.basename(out)), passphrase);
    expect(result.code, result.output).toBe(0);
    return readFile(path.join(sandbox.dir, path.basename(out)));
  };

  beforeAll(async () => {
    sandbox = await tempSandbox();
    await sandbox.startServer();
    env = sandboxEnv(sandbox);
    keyed = { ...env, DR_BACKUP_KEY: KEY };
    // Taken before the key was set: stored in clear, as every backup was before encryption.
    plainDb = await backup('db', env);
    for (const kind of ['db', 'storage', 'config'] as const) taken[kind] = await backup(kind, keyed);
  }, 180_000);
  afterAll(async () => {
    await sandbox?.destroy();
  });

  it('stores every kind as an age file that Debian’s `age -d` turns back into the exact bytes', async () => {
    for (const kind of ['db', 'storage', 'config'] as const) expect(taken[kind]!.encryption).toMatchObject({ algorithm: 'age', kdf: 'scrypt', key_fingerprint: expect.stringMatching(/^[0-9a-f]{8}$/) });
    expect(JSON.stringify(taken)).not.toContain(KEY);

    // The database copy: the manifest's SHA-256 is the plaintext's, and age gives back exactly that file.
    const db = taken.db!.files[0]!;
    expect((await readFile(repo(db.key))).subarray(0, 22).toString()).toBe(AGE_LINE);
    const dbPlain = await ageDecrypt(repo(db.key));
    expect(sha256(dbPlain)).toBe(db.sha256);
    expect(dbPlain.subarray(0, 16).toString('latin1')).toBe('SQLite format 3\0');
    // The one taken before the key is still a plain SQLite file.
    expect((await readFile(repo(plainDb.files[0]!.key))).subarray(0, 15).toString()).toBe('SQLite format 3');

    // Document objects: still named by the plaintext's SHA-256, each decrypting on its own to the document.
    const documents = taken.storage!.documents!;
    expect(documents.length).toBe(sandbox.counts.documents);
    for (const document of documents.slice(0, 3)) {
      const object = repo(`objects/${document.sha256.slice(0, 2)}/${document.sha256}`);
      expect((await readFile(object)).subarray(0, 22).toString()).toBe(AGE_LINE);
      const plain = await ageDecrypt(object);
      expect(plain.equals(await readFile(path.join(sandbox.uploadsDir, document.path)))).toBe(true);
      expect(sha256(plain)).toBe(document.sha256);
    }

    // The config archive: age gives back the tar.gz, .env inside, and no secret anywhere in the stored file.
    const config = taken.config!.files[0]!;
    const stored = await readFile(repo(config.key));
    const secret = /SECRET_KEY=(.+)/.exec(await readFile(sandbox.envFile, 'utf8'))![1]!;
    expect(stored.includes(Buffer.from(secret))).toBe(false);
    const gz = await ageDecrypt(repo(config.key));
    expect(sha256(gz)).toBe(config.sha256);
    const entries: string[] = [];
    await pipeline(Readable.from([gz]), tar.t({ onReadEntry: (entry) => void entries.push(entry.path) }) as unknown as NodeJS.WritableStream);
    expect(entries.some((entry) => entry.endsWith('.env'))).toBe(true);
  }, 300_000);

  it('verifies encrypted backups transparently: `backups --verify` and `verify backup`', async () => {
    const checked = await dr(['backups', '--verify'], keyed, SLOW);
    expect(checked.code, checked.stdout + checked.stderr).toBe(0);
    expect(checked.stdout).not.toMatch(/damaged|unreadable/i);
    const verified = await dr(['verify', 'backup', taken.db!.id], keyed, SLOW);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect((await manifest(taken.db!.id)).verification.restore_test).toMatchObject({ ok: true });
  }, 120_000);

  it('with the wrong key, a restore fails naming the backup, and changes nothing', async () => {
    const live = sandbox.databaseUrl.slice('sqlite:'.length);
    const before = sha256(await readFile(live));
    const result = await dr(['restore', 'db', taken.db!.id, '--confirm', 'alphha-sandbox', '--break-glass'], { ...env, DR_BACKUP_KEY: 'not the key' }, SLOW);
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toContain(`backup ${taken.db!.id} cannot be decrypted: DR_BACKUP_KEY is not the key it was encrypted with`);
    expect(sha256(await readFile(live))).toBe(before);
    expect((await manifest(taken.db!.id)).verified).toBe(true);
  }, 120_000);

  it('still restores a backup stored in clear before the key was set', async () => {
    const result = await dr(['restore', 'db', plainDb.id, '--confirm', 'alphha-sandbox', '--break-glass'], keyed, SLOW);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const restored = await dr(['restore', 'db', taken.db!.id, '--confirm', 'alphha-sandbox', '--break-glass'], keyed, SLOW);
    expect(restored.code, restored.stdout + restored.stderr).toBe(0);
  }, 180_000);
});
