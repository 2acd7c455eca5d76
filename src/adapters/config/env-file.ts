// The DMS's `.env`: read with dotenv (the reference reader of the format), rewritten line by line here.
// dotenv only parses; it has no writer, and serializing its parsed object would drop comments, blank
// lines, `export `, quoting, ordering and CRLF endings. So the rewrite touches exactly the lines of the
// rotated keys, and dotenv is asked before and after whether every value means what it should.
import { randomBytes } from 'node:crypto';
import { lstat, open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import dotenv from 'dotenv';
import { DrError } from '../../domain/errors.ts';

/** One line of an env file as written: its text and its own line ending (`''` on a last line without one). */
export interface EnvLine {
  text: string;
  eol: '' | '\n' | '\r\n';
}

/** A `KEY=value` line taken apart so it can be put back together with only the value changed. */
export interface EnvAssignment {
  key: string;
  /** What comes before the key: indentation and `export `. */
  prefix: string;
  /** `=` and the spaces around it, as written. */
  equals: string;
  /** The quote the value is written in, or `''` when unquoted. */
  quote: '' | "'" | '"' | '`';
  /** The value as written, quotes included. */
  raw: string;
  /** The value as a reader gets it (quotes removed; `\n`, `\r` expanded inside double quotes). */
  value: string;
  /** What follows the value on the line: spaces and a comment. */
  trailer: string;
}

/** A new value for one key. */
export interface EnvRotation {
  key: string;
  value: string;
}

/** The rewritten file and the values it replaced (for fingerprints; never for display). */
export interface RewrittenEnv {
  content: string;
  previous: Map<string, string>;
}

/** The env file as read: bytes (for the backup and for noticing a concurrent edit), text, mode and owner. */
export interface EnvFileSnapshot {
  bytes: Buffer;
  content: string;
  mode: number;
  uid: number;
  gid: number;
}

/** Where the old value of a rotated key is kept when `secrets.keep_previous` is set. */
export function previousKeyOf(key: string): string {
  return `${key}_PREVIOUS`;
}

/** Splits text into lines, each keeping its own ending, so a CRLF file stays CRLF line by line. */
export function splitLines(content: string): EnvLine[] {
  const lines: EnvLine[] = [];
  const ending = /\r?\n/g;
  let start = 0;
  for (let match = ending.exec(content); match; match = ending.exec(content)) {
    lines.push({ text: content.slice(start, match.index), eol: match[0] as EnvLine['eol'] });
    start = match.index + match[0].length;
  }
  if (start < content.length) lines.push({ text: content.slice(start), eol: '' });
  return lines;
}

const ASSIGNMENT = /^(\s*(?:export\s+)?)([\w.-]+)(\s*=[ \t]*)(.*)$/;
const QUOTES = new Set(["'", '"', '`']);

/**
 * Takes one line apart if it assigns a value on that line alone; undefined for comments, blank lines,
 * `KEY: value`, and a quoted value whose closing quote is on a later line (those are never rewritten).
 */
export function parseAssignment(text: string): EnvAssignment | undefined {
  const match = ASSIGNMENT.exec(text);
  if (!match) return undefined;
  const [, prefix, key, equals, rest] = match as unknown as [string, string, string, string, string];
  const first = rest[0];
  if (first !== undefined && QUOTES.has(first)) {
    // The first quote of the same kind not preceded by a backslash closes the value, as dotenv reads it.
    let close = -1;
    for (let i = 1; i < rest.length; i += 1) {
      if (rest[i] === first && rest[i - 1] !== '\\') {
        close = i;
        break;
      }
    }
    if (close < 0) return undefined;
    const trailer = rest.slice(close + 1);
    if (!/^\s*(#.*)?$/.test(trailer)) return undefined;
    const inner = rest.slice(1, close);
    const value = first === '"' ? inner.replace(/\\n/g, '\n').replace(/\\r/g, '\r') : inner;
    return { key, prefix, equals, quote: first as EnvAssignment['quote'], raw: rest.slice(0, close + 1), value, trailer };
  }
  // Unquoted: the value ends at the first `#` (dotenv's rule), without the spaces before it.
  const hash = rest.indexOf('#');
  const raw = (hash < 0 ? rest : rest.slice(0, hash)).trimEnd();
  return { key, prefix, equals, quote: '', raw, value: raw, trailer: rest.slice(raw.length) };
}

/** Every value as dotenv reads it (what the DMS's own loader sees). */
export function readEnvValues(content: string): Record<string, string> {
  return dotenv.parse(content);
}

/**
 * The line of each key, checked: assigned exactly once, on a line this module can rewrite, and read by
 * dotenv as the same value. Throws DrError naming the key and line, never a value.
 */
export function locateKeys(content: string, keys: readonly string[], file: string): Map<string, { index: number; assignment: EnvAssignment }> {
  const lines = splitLines(content);
  const parsed = readEnvValues(content);
  const found = new Map<string, { index: number; assignment: EnvAssignment }>();
  for (const key of keys) {
    const hits = lines.flatMap((line, index) => {
      const assignment = parseAssignment(line.text);
      return assignment?.key === key ? [{ index, assignment }] : [];
    });
    if (hits.length === 0 && !(key in parsed)) {
      throw new DrError('CONFIG_INVALID', `${key} is not set in ${file}, so there is nothing to rotate. Nothing was run.`);
    }
    const hit = hits[0];
    if (hits.length > 1) {
      throw new DrError('CONFIG_INVALID', `${key} is set ${hits.length} times in ${file} (lines ${hits.map((h) => h.index + 1).join(', ')}); remove all but one so it is clear which is in use. Nothing was run.`);
    }
    if (!hit || parsed[key] !== hit.assignment.value) {
      throw new DrError('CONFIG_INVALID', `${key} in ${file} is written in a form dr-bot does not rewrite (a multi-line value, \`${key}: value\`, or unusual quoting); write it as ${key}=value on one line. Nothing was run.`);
    }
    found.set(key, hit);
  }
  return found;
}

/**
 * The file with new values for `rotations` and, with `keepPrevious`, each old value as `<KEY>_PREVIOUS`
 * (replaced where it is, else added right after the key). Every other line, comment, blank line and line
 * ending stays as it was; dotenv must read the result as exactly the intended values, or nothing is returned.
 */
export function rewriteEnv(content: string, rotations: readonly EnvRotation[], options: { keepPrevious: boolean; file: string }): RewrittenEnv {
  const keys = rotations.map((r) => r.key);
  const located = locateKeys(content, keys, options.file);
  const lines = splitLines(content);
  const dominantEol = lines.find((line) => line.eol !== '')?.eol ?? '\n';
  const previous = new Map<string, string>();
  const replaced = new Map<number, EnvLine[]>();
  for (const rotation of rotations) {
    const { index, assignment } = located.get(rotation.key)!;
    const line = lines[index]!;
    previous.set(rotation.key, assignment.value);
    const keyLine: EnvLine = { text: `${assignment.prefix}${assignment.key}${assignment.equals}${assignment.quote}${rotation.value}${assignment.quote}${assignment.trailer}`, eol: line.eol };
    replaced.set(index, [keyLine]);
    if (!options.keepPrevious) continue;
    const previousKey = previousKeyOf(rotation.key);
    // The old value is copied as written, quotes included, so it reads back exactly as before.
    const previousText = `${assignment.prefix}${previousKey}${assignment.equals}${assignment.raw}`;
    const existing = lines.flatMap((l, i) => (parseAssignment(l.text)?.key === previousKey ? [i] : []));
    if (existing.length > 1) {
      throw new DrError('CONFIG_INVALID', `${previousKey} is set ${existing.length} times in ${options.file}; remove all but one. Nothing was run.`);
    }
    const at = existing[0];
    if (at !== undefined) {
      replaced.set(at, [{ text: previousText, eol: lines[at]!.eol }]);
    } else if (line.eol === '') {
      // The key is on the last line and has no ending: give it one, and leave the new last line without.
      replaced.set(index, [{ ...keyLine, eol: dominantEol }, { text: previousText, eol: '' }]);
    } else {
      replaced.set(index, [keyLine, { text: previousText, eol: line.eol }]);
    }
  }
  const next = lines.flatMap((line, index) => replaced.get(index) ?? [line]).map((line) => line.text + line.eol).join('');
  checkRewrite(content, next, rotations, previous, options);
  return { content: next, previous };
}

// dotenv, not this module, decides what the new file means: every rotated key has its new value, every
// `_PREVIOUS` its old one, and every other key exactly what it had.
function checkRewrite(before: string, after: string, rotations: readonly EnvRotation[], previous: Map<string, string>, options: { keepPrevious: boolean; file: string }): void {
  const old = readEnvValues(before);
  const now = readEnvValues(after);
  const expected: Record<string, string> = { ...old };
  for (const rotation of rotations) {
    expected[rotation.key] = rotation.value;
    if (options.keepPrevious) expected[previousKeyOf(rotation.key)] = previous.get(rotation.key)!;
  }
  const names = new Set([...Object.keys(expected), ...Object.keys(now)]);
  const wrong = [...names].filter((name) => expected[name] !== now[name]);
  if (wrong.length > 0) {
    throw new DrError('CONFIG_INVALID', `dr-bot could not rewrite ${options.file} safely (${wrong.slice(0, 5).join(', ')} would not read back as intended); the file was not changed. Nothing was run.`);
  }
}

/** Reads the env file, refusing what cannot be rewritten in place: a symlink (the rename would replace the link, not its target), a non-file, non-UTF-8 bytes. */
export async function readEnvFile(file: string): Promise<EnvFileSnapshot> {
  let info;
  try {
    info = await lstat(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DrError('CONFIG_INVALID', code === 'ENOENT' ? `The env file ${file} (secrets.env_file) does not exist. Nothing was run.` : `Cannot read the env file ${file}: ${code ?? 'error'}. Nothing was run.`);
  }
  if (info.isSymbolicLink()) throw new DrError('CONFIG_INVALID', `${file} is a symbolic link; set secrets.env_file to the file it points to, so the new values land where the DMS reads them. Nothing was run.`);
  if (!info.isFile()) throw new DrError('CONFIG_INVALID', `${file} (secrets.env_file) is not a regular file. Nothing was run.`);
  const bytes = await readFile(file);
  const content = bytes.toString('utf8');
  if (!Buffer.from(content, 'utf8').equals(bytes)) throw new DrError('CONFIG_INVALID', `${file} is not valid UTF-8, so it cannot be rewritten without changing other lines. Nothing was run.`);
  return { bytes, content, mode: info.mode & 0o777, uid: info.uid, gid: info.gid };
}

/** Writes a new file readable by its owner only (0600), never over an existing one, and makes it durable. */
export async function writePrivateFile(file: string, bytes: Buffer | string): Promise<void> {
  const handle = await open(file, 'wx', 0o600);
  try {
    // The umask can only narrow the mode given to open; chmod states it exactly.
    await handle.chmod(0o600);
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await syncDirectory(path.dirname(file));
}

/**
 * Replaces `file` atomically: a temp file in the same directory (so the rename cannot cross file systems),
 * mode 0600, given to the old file's owner, fsynced, renamed over the file, then the directory fsynced.
 * A reader sees the old file or the new one, never half of either. Refuses if the file no longer holds
 * `expected` (someone edited it meanwhile); the temp file never outlives a failure.
 */
export async function replaceFileAtomically(file: string, content: string, options: { owner: { uid: number; gid: number }; expected: Buffer }): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.dr-${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', 0o600);
  let renamed = false;
  try {
    try {
      await handle.chmod(0o600);
      if (typeof process.getuid === 'function' && process.getuid() !== options.owner.uid) {
        // The DMS reads the file as its owner: a 0600 file that changed owner would lock it out.
        await handle.chown(options.owner.uid, options.owner.gid).catch((error: unknown) => {
          throw new DrError('CONFIG_INVALID', `cannot give the new ${path.basename(file)} to its owner (uid ${options.owner.uid}): ${(error as NodeJS.ErrnoException).code ?? 'error'}; the file was not changed`);
        });
      }
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (!(await readFile(file)).equals(options.expected)) throw new DrError('CONFIG_INVALID', `${file} changed while the new values were being written; the file was not changed. Ask for a new plan.`);
    await rename(temp, file);
    renamed = true;
    await syncDirectory(dir);
  } finally {
    if (!renamed) await unlink(temp).catch(() => {});
  }
}

// A rename is durable only once the directory entry is: fsync the directory itself.
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
