import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, realpath, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { documentFile, PathEscapeError } from '../../domain/document-paths.ts';
import type { DocumentWriter, ExpectedContent } from '../../ports/dms.ts';
import { fsyncDir, fsyncFile } from '../repository/local-backup-repository.ts';
import { checkedContent, releaseContent } from './checked-content.ts';

/** Writes documents back into the uploads folder: temp file beside the target, fsync, rename. */
export class LocalDocumentWriter implements DocumentWriter {
  constructor(private readonly root: string) {}

  get location(): string {
    return this.root;
  }

  async write(relative: string, content: NodeJS.ReadableStream, expected: ExpectedContent): Promise<void> {
    let temp: string | undefined;
    try {
      const target = this.confined(relative);
      const dir = path.dirname(target);
      await this.refuseSymlinkEscape(dir);
      await mkdir(dir, { recursive: true });
      // A damaged file keeps the mode the DMS gave it; a missing one gets the default a new upload would.
      const mode = await stat(target).then((stats) => stats.mode & 0o7777, () => undefined);
      temp = path.join(dir, `.${path.basename(target)}.${randomBytes(6).toString('hex')}.dr-restore`);
      await pipeline(checkedContent(content, expected, relative), createWriteStream(temp, { flags: 'wx' }));
      if (mode !== undefined) await chmod(temp, mode);
      await fsyncFile(temp);
      await rename(temp, target);
      temp = undefined;
      await fsyncDir(dir);
    } catch (error) {
      releaseContent(content);
      if (temp) await rm(temp, { force: true });
      throw error;
    }
  }

  /** Makes the uploads folder when it is gone (a lost volume); true when it had to. */
  async ensureRoot(): Promise<boolean> {
    const made = await mkdir(this.root, { recursive: true });
    if (made === undefined) return false;
    await fsyncDir(path.dirname(made));
    return true;
  }

  // Paths come from the DMS database, which a breach may have edited: nothing may land outside the root.
  private confined(relative: string): string {
    return documentFile(this.root, relative);
  }

  // A symlinked folder inside the root would carry the write outside it; checked before mkdir creates anything.
  private async refuseSymlinkEscape(dir: string): Promise<void> {
    const root = path.resolve(this.root);
    for (let probe = dir; probe.startsWith(`${root}${path.sep}`); probe = path.dirname(probe)) {
      const real = await realpath(probe).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      if (real === undefined) continue;
      const realRoot = await realpath(root);
      if (real !== realRoot && !real.startsWith(`${realRoot}${path.sep}`)) throw new PathEscapeError(`path escapes the uploads folder through a symlink: ${path.relative(root, probe)}`);
      return;
    }
  }
}
