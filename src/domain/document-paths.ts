import path from 'node:path';

/**
 * Where the documents are: `root` is the uploads folder as the bot sees it (absolute; absent for a bucket),
 * `prefix` the same folder as the DMS sees it when that differs (a container's `/app/uploads`).
 */
export interface DocumentLayout {
  root?: string;
  prefix?: string;
}

/** A `documents.file_path` mapped into the storage: a path relative to its root with `/` separators, or why not. */
export type MappedDocumentPath = { relative: string; escapes?: undefined } | { relative?: undefined; escapes: string };

/** What the failure reason of a refused path starts with, whatever the path (failures are grouped by it). */
export const ESCAPES_REASON = 'path escapes the uploads folder';

/**
 * The one mapping from `documents.file_path` to a file of the storage (DESIGN §4 `storage`), used by verify,
 * backup and restore alike: relative to the root, absolute under the root, or absolute under `prefix`.
 * Anything else — a `..` that climbs out, another absolute folder, the root itself — is refused: the paths
 * come from the DMS database, which a breach may have edited. Purely lexical: symlinks are checked where files
 * are opened.
 */
export function mapDocumentPath(filePath: string, layout: DocumentLayout): MappedDocumentPath {
  // The common case, a plain relative path, costs one regular expression: the DMS table is read whole per snapshot.
  if (PLAIN_RELATIVE.test(filePath)) return { relative: filePath };
  if (filePath === '' || filePath.includes('\0')) return { escapes: `${ESCAPES_REASON}: empty or not a path` };
  const posix = filePath.replaceAll('\\', '/');
  let relative: string | undefined;
  if (posix.startsWith('/')) {
    const full = path.posix.normalize(posix);
    // The DMS's own view first: with a container whose folder is also the bot's, both agree anyway.
    for (const base of [layout.prefix, layout.root]) {
      const inside = base === undefined ? undefined : below(base, full);
      if (inside !== undefined) {
        relative = inside;
        break;
      }
    }
    if (relative === undefined) {
      const known = [layout.root, layout.prefix].filter((p): p is string => p !== undefined);
      const where = known.length ? `not under ${known.join(' or ')}` : 'an absolute path, but the documents are in a bucket';
      return { escapes: `${ESCAPES_REASON}: ${filePath} is ${where}` };
    }
  } else {
    relative = path.posix.normalize(posix);
  }
  if (relative === '.' || relative === '' || relative === '..' || relative.startsWith('../')) return { escapes: `${ESCAPES_REASON}: ${filePath}` };
  return { relative: relative.replace(/\/+$/, '') };
}

// Relative, no `.` or `..` segment, no empty segment, no backslash or NUL: already in its normal form.
const PLAIN_RELATIVE = /^(?!\.\.?(?:\/|$))(?:[^/\\\0]+)(?:\/(?!\.\.?(?:\/|$))[^/\\\0]+)*$/;

/** `full` relative to `base` when it lies strictly inside it (both absolute, posix), else undefined. */
function below(base: string, full: string): string | undefined {
  const folder = path.posix.normalize(base.replaceAll('\\', '/')).replace(/\/+$/, '');
  return full.startsWith(`${folder}/`) ? full.slice(folder.length + 1) : undefined;
}

/** The error of a refused path: its code lets failures be grouped, its message names the path. */
export class PathEscapeError extends Error {
  readonly code = 'EESCAPE';
}

/**
 * The absolute local file of a storage path (as the listing and `documents.file_path` give it), through the
 * same mapping: throws a PathEscapeError for anything that would land outside `root`.
 */
export function documentFile(root: string, storagePath: string, prefix?: string): string {
  const mapped = mapDocumentPath(storagePath, { root: path.resolve(root), ...(prefix === undefined ? {} : { prefix }) });
  if (mapped.escapes !== undefined) throw new PathEscapeError(mapped.escapes);
  return path.join(path.resolve(root), ...mapped.relative.split('/'));
}
