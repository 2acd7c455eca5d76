import { errorText } from './errors.ts';
import { ESCAPES_REASON } from './document-paths.ts';

/** One document that could not be checked, copied or written, with the reason shared by its group. */
export interface DocumentFailureItem {
  id: number;
  /** Path-free, so failures group by it: `permission denied`, `missing`, … */
  reason: string;
}

/** Failures sharing a reason: how many, and the document ids (sorted). */
export interface FailureGroup {
  reason: string;
  count: number;
  ids: number[];
}

// File-system and S3 error codes as an operator reads them; the path is said elsewhere (per document).
const REASONS: Record<string, string> = {
  ENOENT: 'missing',
  NoSuchKey: 'missing',
  NotFound: 'missing',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  AccessDenied: 'access denied',
  ENOTREG: 'not a regular file',
  ELOOP: 'a symlink (not followed)',
  EISDIR: 'a folder, not a file',
  ENOTDIR: 'a parent folder is a file',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EIO: 'I/O error',
  EMFILE: 'too many open files',
  ECONTENT: 'the snapshot object does not hold the recorded content',
  EESCAPE: ESCAPES_REASON,
};

/** The path-free reason of an error met on one document (grouping key), from its code or S3 name. */
export function failureReason(error: unknown): string {
  const e = error as { code?: unknown; name?: unknown; message?: unknown } | undefined;
  for (const key of [e?.code, e?.name]) {
    if (typeof key === 'string' && REASONS[key]) return REASONS[key];
  }
  if (typeof e?.code === 'string') return e.code;
  const message = typeof e?.message === 'string' ? e.message : String(error);
  // Unknown errors group by their first clause, without a quoted path in it.
  return message.split(/[:;]/)[0]!.replace(/'[^']*'|"[^"]*"/g, '…').trim().slice(0, 120) || 'unknown error';
}

// Codes dr-bot gives its own errors so they group; their messages already say what happened.
const OWN_CODES = new Set(['ECONTENT', 'EESCAPE']);

/** The full text of an error met on one document (its detail beside the grouped reason). */
export function failureDetail(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && OWN_CODES.has(code) ? (error as Error).message : errorText(error);
}

/** Failures grouped by reason, the largest group first. */
export function groupFailures(items: readonly DocumentFailureItem[]): FailureGroup[] {
  const groups = new Map<string, number[]>();
  for (const item of items) {
    const ids = groups.get(item.reason);
    if (ids) ids.push(item.id);
    else groups.set(item.reason, [item.id]);
  }
  return [...groups]
    .map(([reason, ids]) => ({ reason, count: ids.length, ids: ids.sort((a, b) => a - b) }))
    .sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : 1));
}

/** `12 × permission denied: documents 3, 8, 12, 20, 31 and 7 more`, one line per group. */
export function failureLines(groups: readonly FailureGroup[], examples = 5): string[] {
  return groups.map((g) => {
    const shown = g.ids.slice(0, examples).join(', ');
    const more = g.ids.length > examples ? ` and ${g.ids.length - examples} more` : '';
    return `${g.count} × ${g.reason}: document${g.ids.length === 1 ? '' : 's'} ${shown}${more}`;
  });
}
