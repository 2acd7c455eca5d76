import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import type { BackupManifest } from '../../src/backup/manifest.ts';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { AgePassphrase } from '../../src/adapters/crypto/age-passphrase.ts';
import { EncryptedBackupRepository } from '../../src/adapters/repository/encrypted-backup-repository.ts';
import { LocalBackupRepository } from '../../src/adapters/repository/local-backup-repository.ts';
import { encryptingStream } from '../../src/backup/encryption.ts';
import { dr } from '../helpers/cli.ts';
import { sandboxEnv, tempSandbox } from '../helpers/sandbox.ts';

describe('config backups (tar.gz of backups.config_paths)', () => {
  let sandbox: Sandbox;
  let env: Record<string, string>;
  let secretValue: string;
  const manifestOf = async (stdout: string) => {
    const id = /config backup (config-\S+):/.exec(stdout)![1]!;
    return JSON.parse(await readFile(path.join(sandbox.dir, 'backups', 'manifests', `${id}.json`), 'utf8')) as BackupManifest;
  };

  beforeAll(async () => {
    sandbox = await tempSandbox();
    env = sandboxEnv(sandbox);
    secretValue = /SECRET_KEY=(.+)/.exec(await readFile(sandbox.envFile, 'utf8'))![1]!;
  });
  afterAll(async () => sandbox?.destroy());

  it('encrypts the archive with DR_BACKUP_KEY: no secret in the file, the manifest or the output', async () => {
    const { code, stdout } = await dr(['backup', 'config'], { ...env, DR_BACKUP_KEY: 'backup-key-for-tests' });
    expect(code).toBe(0);
    const manifest = await manifestOf(stdout);
    expect(manifest.encryption).toMatchObject({ algorithm: 'age', key_fingerprint: expect.stringMatching(/^[0-9a-f]{8}$/) });
    expect(stdout).toContain(`encrypted (key ${manifest.encryption!.key_fingerprint})`);
    const file = path.join(sandbox.dir, 'backups', manifest.files[0]!.key);
    const sealed = await readFile(file);
    expect(sealed.includes(Buffer.from(secretValue))).toBe(false);
    expect(JSON.stringify(manifest)).not.toContain('backup-key-for-tests');
    expect(JSON.stringify(manifest)).not.toContain(secretValue);
    expect(stdout).not.toContain(secretValue);
    // An age file; decrypted, it is a gzip stream holding .env among the configured paths.
    expect(sealed.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');
    const decrypting = new AgePassphrase('backup-key-for-tests').decrypt();
    const gz = await buffer(Readable.from([sealed]).pipe(decrypting));
    expect(gz.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(manifest.verification.archive_entries).toBeGreaterThanOrEqual(3);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('without DR_BACKUP_KEY stores it mode 0600, says so, and /dr status warns', async () => {
    const { code, stdout } = await dr(['backup', 'config'], env);
    expect(code).toBe(0);
    expect(stdout).toContain('NOT encrypted (DR_BACKUP_KEY unset; mode 0600)');
    const manifest = await manifestOf(stdout);
    expect(manifest.encryption).toBeUndefined();
    expect((await stat(path.join(sandbox.dir, 'backups', manifest.files[0]!.key))).mode & 0o777).toBe(0o600);
    const status = await dr(['status'], env);
    expect(status.stdout).toContain('config backups are not encrypted (DR_BACKUP_KEY unset)');
  });

  it('reports configured paths that do not exist without failing', async () => {
    const { writeFile } = await import('node:fs/promises');
    const withMissing = path.join(sandbox.dir, 'dr-missing.yml');
    const original = await readFile(sandbox.configPath, 'utf8');
    await writeFile(withMissing, original.replace(/config_paths:\n/, `config_paths:\n    - ${sandbox.dir}/backend/alembic/\n`));
    const { code, stdout } = await dr(['backup', 'config'], { ...env, DR_CONFIG: withMissing });
    expect(code).toBe(0);
    const manifest = await manifestOf(stdout);
    expect(manifest.verification.missing).toEqual([path.join(sandbox.dir, 'backend/alembic')]);
    expect(stdout).toContain(`configured but not found: ${path.join(sandbox.dir, 'backend/alembic')}`);
    expect(manifest.source.location).toContain('.env');
  });

  it('restores an encrypted archive file by file: changed files kept beside themselves, equal ones untouched, modes kept', async () => {
    const { code, stdout } = await dr(['backup', 'config'], { ...env, DR_BACKUP_KEY: 'backup-key-for-tests' });
    expect(code).toBe(0);
    const manifest = await manifestOf(stdout);
    // Decrypted by the repository, as a restore reads it.
    const repository = (key: string) => new EncryptedBackupRepository(new LocalBackupRepository(path.join(sandbox.dir, 'backups')), new AgePassphrase(key));
    const archive = await repository('backup-key-for-tests').localFile(manifest.files[0]!.key);
    const { writeFile, rm } = await import('node:fs/promises');
    const original = await readFile(sandbox.envFile, 'utf8');
    await writeFile(sandbox.envFile, 'SECRET_KEY=tampered\n');
    const compose = path.join(sandbox.dir, 'docker-compose.yml');
    await rm(compose);
    const { TarConfigArchiver } = await import('../../src/adapters/config/tar-config-archiver.ts');
    const configPaths = [sandbox.envFile, compose, path.join(sandbox.dir, 'nginx')];
    const sha256 = manifest.files[0]!.sha256;
    // The archive's plaintext, as a restore gets it from the repository: its SHA-256 is the manifest's.
    const archiver = new TarConfigArchiver(configPaths, undefined);
    const result = await archiver.restoreArchive(archive.path, '/', 'test1', sha256);
    await archive.release();
    expect(await readFile(sandbox.envFile, 'utf8')).toBe(original);
    expect((await stat(sandbox.envFile)).mode & 0o777).toBe(0o600);
    expect(await readFile(`${sandbox.envFile}.pre-test1`, 'utf8')).toBe('SECRET_KEY=tampered\n');
    expect((await stat(`${sandbox.envFile}.pre-test1`)).mode & 0o777).toBe(0o600);
    expect(result.restored).toEqual(expect.arrayContaining([sandbox.envFile, compose]));
    expect(result.kept).toEqual([`${sandbox.envFile}.pre-test1`]);
    expect(result.unchanged.length).toBeGreaterThan(0);
    // The wrong key gives nothing to restore, and says which backup it could not open.
    await expect(repository('wrong-key').localFile(manifest.files[0]!.key)).rejects.toThrow(`backup ${manifest.id} cannot be decrypted: DR_BACKUP_KEY is not the key it was encrypted with`);
  }, 60_000);

  it('still restores an archive in the AES-256-GCM format config backups had before age', async () => {
    const { TarConfigArchiver } = await import('../../src/adapters/config/tar-config-archiver.ts');
    const { Secret } = await import('../../src/config/secret.ts');
    const { writeFile } = await import('node:fs/promises');
    const { createHash } = await import('node:crypto');
    const plain = path.join(sandbox.dir, 'legacy.tar.gz');
    await new TarConfigArchiver([sandbox.envFile], undefined).archiveTo(plain);
    const { stream } = encryptingStream('backup-key-for-tests');
    const legacy = path.join(sandbox.dir, 'legacy.tar.gz.enc');
    const sealed = await buffer(Readable.from([await readFile(plain)]).pipe(stream));
    await writeFile(legacy, sealed);
    // Manifests of that format recorded the SHA-256 of the encrypted file.
    const sha256 = createHash('sha256').update(sealed).digest('hex');
    const root = path.join(sandbox.dir, 'legacy-restore');
    const result = await new TarConfigArchiver([sandbox.envFile], new Secret('backup-key-for-tests')).restoreArchive(legacy, root, 'legacy', sha256);
    expect(result.restored).toEqual([path.join(root, sandbox.envFile)]);
    expect(await readFile(path.join(root, sandbox.envFile), 'utf8')).toBe(await readFile(sandbox.envFile, 'utf8'));
    await expect(new TarConfigArchiver([sandbox.envFile], new Secret('wrong-key')).restoreArchive(legacy, root, 'legacy2', sha256)).rejects.toThrow(/cannot decrypt/);
    await expect(new TarConfigArchiver([sandbox.envFile], undefined).listArchive(legacy)).rejects.toThrow(/DR_BACKUP_KEY is not set/);
  });
});
