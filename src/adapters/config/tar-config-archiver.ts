import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { decrypt, encryptingStream } from '../../backup/encryption.ts';
import type { Secret } from '../../config/secret.ts';
import type { ConfigArchive, ConfigArchiver } from '../../ports/config-archive.ts';

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
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    const packed = tar.c({ gzip: true, cwd: '/', portable: true }, present.map((p) => path.relative('/', p)));
    const encryption = this.key ? encryptingStream(this.key.reveal()) : undefined;
    const stages = [packed, ...(encryption ? [encryption.stream] : []), hashing, createWriteStream(file, { mode: 0o600 })];
    await (pipeline as unknown as (...streams: unknown[]) => Promise<void>)(...stages);
    return { entries: present, missing, encryption: encryption?.info, sha256: hash.digest('hex') };
  }

  async listArchive(file: string): Promise<string[]> {
    const raw = await readFile(file);
    const gzipped = this.key ? decrypt(this.key.reveal(), raw) : raw;
    const entries: string[] = [];
    await (pipeline as unknown as (...streams: unknown[]) => Promise<void>)(Readable.from([gzipped]), tar.t({ onReadEntry: (entry) => void entries.push(entry.path) }));
    return entries;
  }
}
