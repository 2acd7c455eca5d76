import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, chmod, lstat, mkdir, mkdtemp, open, readdir, readFile, readlink, realpath, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { decrypt, isLegacyEncrypted } from '../../backup/encryption.ts';
import { tapStream } from '../../backup/file-hash.ts';
import type { Secret } from '../../config/secret.ts';
import type { ConfigArchive, ConfigArchiver, ConfigRestore } from '../../ports/config-archive.ts';
import { DrError } from '../../domain/errors.ts';

/**
 * tar.gz of the configured paths (absolute, stored relative to /). Encryption at rest is the repository's (age,
 * DR_BACKUP_KEY); `legacyKey` only opens archives written before that, in dr-bot's own AES-256-GCM format.
 */
export class TarConfigArchiver implements ConfigArchiver {
  readonly extension = 'tar.gz';

  constructor(private readonly paths: readonly string[], private readonly legacyKey: Secret | undefined) {}

  async archiveTo(file: string): Promise<ConfigArchive> {
    const present: string[] = [];
    const missing: string[] = [];
    for (const p of this.paths) ((await access(p).then(() => true, () => false)) ? present : missing).push(p);
    if (present.length === 0) throw new Error(`none of backups.config_paths exists (${this.paths.join(', ')})`);

    const hash = createHash('sha256');
    const hashing = tapStream((chunk) => hash.update(chunk));
    const packed = tar.c({ gzip: true, cwd: '/', portable: true }, present.map((p) => path.relative('/', p)));
    await (pipeline as unknown as (...streams: unknown[]) => Promise<void>)(packed, hashing, createWriteStream(file, { mode: 0o600 }));
    return { entries: present, missing, sha256: hash.digest('hex') };
  }

  async listArchive(file: string): Promise<string[]> {
    const entries: string[] = [];
    await (pipeline as unknown as (...streams: unknown[]) => Promise<void>)(Readable.from([await this.gzipped(file)]), tar.t({ onReadEntry: (entry) => void entries.push(entry.path) }));
    return entries;
  }

  async restoreArchive(file: string, root: string, label: string, sha256: string): Promise<ConfigRestore> {
    // Read once: the bytes checked are the bytes extracted.
    const raw = await readFile(file);
    const actual = createHash('sha256').update(raw).digest('hex');
    if (actual !== sha256) {
      throw new DrError('RESTORE_FAILED', `the config archive ${path.basename(file)} is not the one its manifest describes (SHA-256 ${actual.slice(0, 12)}…, the manifest says ${sha256.slice(0, 12)}…); nothing was restored`);
    }
    const gz = await this.unseal(raw);
    // Every entry is judged before anything is written: one entry outside backups.config_paths refuses the archive.
    const entries = await readEntries(gz);
    const refused = entries.flatMap((entry) => {
      const why = confinementProblem(entry, this.paths);
      return why ? [`${printablePath(entry.path)} (${why})`] : [];
    });
    if (refused.length > 0) {
      const more = refused.length > 10 ? ` and ${refused.length - 10} more` : '';
      throw new DrError('RESTORE_FAILED', `the config archive holds entries dr-bot will not restore, so nothing was restored: ${refused.slice(0, 10).join('; ')}${more}`);
    }
    // Unpacked into a private folder first (tar refuses absolute and `..` paths), then moved file by file.
    const staging = await mkdtemp(path.join(tmpdir(), 'dr-config-restore-'));
    await chmod(staging, 0o700);
    const result: ConfigRestore = { restored: [], unchanged: [], kept: [] };
    try {
      await (pipeline as unknown as (...streams: unknown[]) => Promise<void>)(Readable.from([gz]), tar.x({ cwd: staging, preserveOwner: false, strict: true }));
      const files = await listFiles(staging);
      // Where each target really lands, after any symbolic link on the way, must still be inside its configured path.
      const astray: string[] = [];
      for (const relative of files) {
        const target = path.join(root, relative);
        const home = path.join(root, this.paths.find((p) => isWithin(`/${relative}`, p))!);
        // A configured folder may itself be a link (the operator's layout); what lies inside it may not lead out.
        const homeIsFolder = await stat(home).then((info) => info.isDirectory(), () => false);
        const homeReal = homeIsFolder ? await realLocation(home) : path.join(await realLocation(path.dirname(home)), path.basename(home));
        const targetReal = path.join(await realLocation(path.dirname(target)), path.basename(target));
        if (!isWithin(targetReal, homeReal)) astray.push(`${target} (behind a symbolic link that leads out of ${home})`);
      }
      if (astray.length > 0) throw new DrError('RESTORE_FAILED', `nothing was restored: ${astray.slice(0, 10).join('; ')}`);
      for (const relative of files) {
        const source = path.join(staging, relative);
        const target = path.join(root, relative);
        const info = await lstat(source);
        const existingInfo = await lstat(target).catch(() => undefined);
        if (info.isSymbolicLink()) {
          const link = await readlink(source);
          if (existingInfo?.isSymbolicLink() && (await readlink(target)) === link) {
            result.unchanged.push(target);
            continue;
          }
          await mkdir(path.dirname(target), { recursive: true });
          if (existingInfo) result.kept.push(await keepAside(target, label));
          const temporary = `${target}.dr-restore-${randomBytes(4).toString('hex')}`;
          await symlink(link, temporary);
          await rename(temporary, target);
          result.restored.push(target);
          continue;
        }
        const content = await readFile(source);
        // A link at the target is replaced, never written through.
        const existing = existingInfo?.isFile() ? await readFile(target) : undefined;
        if (existing?.equals(content)) {
          result.unchanged.push(target);
          continue;
        }
        await mkdir(path.dirname(target), { recursive: true });
        if (existing) {
          const kept = `${target}.pre-${label}`;
          await writeFile(kept, existing, { mode: 0o600 });
          result.kept.push(kept);
        } else if (existingInfo) {
          result.kept.push(await keepAside(target, label));
        }
        const temporary = `${target}.dr-restore-${randomBytes(4).toString('hex')}`;
        const handle = await open(temporary, 'wx', info.mode & 0o777);
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
    return this.unseal(await readFile(file));
  }

  // Archives are encrypted at rest by the repository now; one in the pre-age format is opened with the key.
  private async unseal(raw: Buffer): Promise<Buffer> {
    if (!isLegacyEncrypted(raw)) return raw;
    if (!this.legacyKey) throw new Error('the archive is encrypted (dr-bot’s format before age) and DR_BACKUP_KEY is not set');
    return decrypt(this.legacyKey.reveal(), raw);
  }
}

/** One entry of an archive as its header says, before any tar library rewrites its path. */
interface ArchiveEntry {
  path: string;
  type: string;
  linkpath: string | undefined;
}

async function readEntries(gz: Buffer): Promise<ArchiveEntry[]> {
  const entries: ArchiveEntry[] = [];
  await (pipeline as unknown as (...streams: unknown[]) => Promise<void>)(
    Readable.from([gz]),
    tar.t({ strict: true, onReadEntry: (entry) => void entries.push({ path: entry.path, type: entry.type, linkpath: entry.linkpath }) }),
  );
  return entries;
}

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

/**
 * Why an archive entry may not be restored, or undefined when it may: it must name a place under one of
 * `backups.config_paths` (archives store them relative to /), without `..`, and be a file, a folder, or a
 * link whose target stays under the configured paths.
 */
export function confinementProblem(entry: ArchiveEntry, configPaths: readonly string[]): string | undefined {
  if (entry.path.startsWith('/')) return 'an absolute path';
  if (entry.path.split('/').includes('..')) return 'climbs out with ..';
  const at = path.posix.join('/', entry.path);
  if (!configPaths.some((p) => isWithin(at, p))) return 'not under backups.config_paths';
  if (FILE_TYPES.has(entry.type) || entry.type === 'Directory') return undefined;
  if (entry.type === 'SymbolicLink' || entry.type === 'Link') {
    if (!entry.linkpath) return 'a link to nothing';
    // A symbolic link is relative to its own folder; a hard link names another entry of the archive.
    const target = entry.type === 'SymbolicLink' ? path.posix.resolve(path.posix.dirname(at), entry.linkpath) : path.posix.join('/', entry.linkpath);
    if (entry.type === 'Link' && (entry.linkpath.startsWith('/') || entry.linkpath.split('/').includes('..'))) return 'a hard link out of the archive';
    return configPaths.some((p) => isWithin(target, p)) ? undefined : `a link to ${printablePath(entry.linkpath)}, outside backups.config_paths`;
  }
  return `a ${entry.type}, not a file or folder`;
}

function isWithin(location: string, folder: string): boolean {
  return location === folder || location.startsWith(folder.endsWith('/') ? folder : `${folder}/`);
}

// Names from a hostile archive are shown, so they are shortened and stripped of control characters.
function printablePath(name: string): string {
  const clean = name.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 120 ? `${clean.slice(0, 120)}…` : clean;
}

/** The real path of `location`: its nearest existing ancestor resolved through links, with the rest appended. */
async function realLocation(location: string): Promise<string> {
  let existing = location;
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(await realpath(existing), ...rest.reverse());
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || existing === path.dirname(existing)) throw error;
      rest.push(path.basename(existing));
      existing = path.dirname(existing);
    }
  }
}

// What is at a target that is not a regular file (a link, say) is moved aside whole, never followed.
async function keepAside(target: string, label: string): Promise<string> {
  const kept = `${target}.pre-${label}`;
  await rename(target, kept);
  return kept;
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const relative = path.join(prefix, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(dir, relative)));
    else if (entry.isFile() || entry.isSymbolicLink()) files.push(relative);
  }
  return files;
}
