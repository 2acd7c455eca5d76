import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { decrypt, encryptingStream } from '../../backup/encryption.ts';
import { tapStream } from '../../backup/file-hash.ts';
import type { Secret } from '../../config/secret.ts';
import type { ConfigArchive, ConfigArchiver, ConfigRestore } from '../../ports/config-archive.ts';

/** tar.gz of the configured paths (absolute, stored relative to /), AES-256-GCM encrypted when DR_BACKUP_KEY is set. */
export class TarConfigArchiver implements ConfigArchiver {
  constructor(private readonly paths: readonly string[], private readonly key: Secret | undefined) {}

  get extension(): string {
    return this.key ? 'tar.gz.enc' : 'tar.gz';
  }

  async archiveTo(file: string): Promise<ConfigArchive> {
    const present: string[] = [];
    const missing: string[] = [];
    for (const p of this.paths) ((await access(p).then(() => true, () => false)) ? present : missing).push(p);
    if (present.length === 0) throw new Error(`none of backups.config_paths exists (${this.paths.join(', ')})`);

    const hash = createHash('sha256');
    const hashing = tapStream((chunk) => hash.update(chunk));
    const packed = tar.c({ gzip: true, cwd: '/', portable: true }, present.map((p) => path.relative('/', p)));
    const encryption = this.key ? encryptingStream(this.key.reveal()) : undefined;
    const stages = [packed, ...(encryption ? [encryption.stream] : []), hashing, createWriteStream(file, { mode: 0o600 })];
    await (pipeline as unknown as (...streams: unknown[]) => Promise<void>)(...stages);
    return { entries: present, missing, encryption: encryption?.info, sha256: hash.digest('hex') };
  }

  async listArchive(file: string): Promise<string[]> {
    const entries: string[] = [];
    await (pipeline as unknown as (...streams: unknown[]) => Promise<void>)(Readable.from([await this.gzipped(file)]), tar.t({ onReadEntry: (entry) => void entries.push(entry.path) }));
    return entries;
  }

  async restoreArchive(file: string, root: string, label: string): Promise<ConfigRestore> {
    // Unpacked into a private folder first (tar refuses absolute and `..` paths), then moved file by file.
    const staging = await mkdtemp(path.join(tmpdir(), 'dr-config-restore-'));
    await chmod(staging, 0o700);
    const result: ConfigRestore = { restored: [], unchanged: [], kept: [] };
    try {
      await (pipeline as unknown as (...streams: unknown[]) => Promise<void>)(Readable.from([await this.gzipped(file)]), tar.x({ cwd: staging, preserveOwner: false }));
      for (const relative of await listFiles(staging)) {
        const source = path.join(staging, relative);
        const target = path.join(root, relative);
        const content = await readFile(source);
        const { mode } = await stat(source);
        const existing = await readFile(target).catch(() => undefined);
        if (existing?.equals(content)) {
          result.unchanged.push(target);
          continue;
        }
        await mkdir(path.dirname(target), { recursive: true });
        if (existing) {
          const kept = `${target}.pre-${label}`;
          await writeFile(kept, existing, { mode: 0o600 });
          result.kept.push(kept);
        }
        const temporary = `${target}.dr-restore-${randomBytes(4).toString('hex')}`;
        const handle = await open(temporary, 'w', mode & 0o777);
        try {
          await handle.writeFile(content);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(temporary, target);
        result.restored.push(target);
      }
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
    return result;
  }

  private async gzipped(file: string): Promise<Buffer> {
    const raw = await readFile(file);
    return this.key ? decrypt(this.key.reveal(), raw) : raw;
  }
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const relative = path.join(prefix, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(dir, relative)));
    else if (entry.isFile()) files.push(relative);
  }
  return files;
}
