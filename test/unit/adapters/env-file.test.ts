import { lstat, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { locateKeys, parseAssignment, readEnvFile, readEnvValues, replaceFileAtomically, rewriteEnv, splitLines, writePrivateFile } from '../../../src/adapters/config/env-file.ts';
import { thrownDrError } from '../../helpers/refusal.ts';

const FILE = '/srv/dms/.env';
const NEW_SECRET = 'bmV3LXNlY3JldC12YWx1ZS0wMTIzNDU2Nzg5YWJjZGVmZ2g=';
const NEW_ENC = 'bmV3LWVuY3J5cHRpb24ta2V5LTAxMjM0NTY3ODlhYmNkZWY=';

function rewrite(content: string, keys: Record<string, string>, keepPrevious = true) {
  return rewriteEnv(content, Object.entries(keys).map(([key, value]) => ({ key, value })), { keepPrevious, file: FILE });
}

describe('rewriteEnv', () => {
  it('changes only the rotated lines and adds <KEY>_PREVIOUS right after each, comments and blank lines untouched', () => {
    const before = ['# Alphha DMS', '', 'DATABASE_URL=postgres://alphha@db/alphha  # primary', 'SECRET_KEY=old-secret', '   # indented comment', 'ENCRYPTION_KEY=old-enc', 'UPLOAD_DIR=/app/uploads', ''].join('\n');
    const { content, previous } = rewrite(before, { SECRET_KEY: NEW_SECRET, ENCRYPTION_KEY: NEW_ENC });
    expect(content).toBe(
      ['# Alphha DMS', '', 'DATABASE_URL=postgres://alphha@db/alphha  # primary', `SECRET_KEY=${NEW_SECRET}`, 'SECRET_KEY_PREVIOUS=old-secret', '   # indented comment', `ENCRYPTION_KEY=${NEW_ENC}`, 'ENCRYPTION_KEY_PREVIOUS=old-enc', 'UPLOAD_DIR=/app/uploads', ''].join('\n'),
    );
    expect([...previous]).toEqual([['SECRET_KEY', 'old-secret'], ['ENCRYPTION_KEY', 'old-enc']]);
    expect(readEnvValues(content)).toEqual({ DATABASE_URL: 'postgres://alphha@db/alphha', SECRET_KEY: NEW_SECRET, SECRET_KEY_PREVIOUS: 'old-secret', ENCRYPTION_KEY: NEW_ENC, ENCRYPTION_KEY_PREVIOUS: 'old-enc', UPLOAD_DIR: '/app/uploads' });
  });

  it('keeps quotes, `export `, spaces around = and trailing comments of the key line', () => {
    const before = ['export SECRET_KEY = "old secret # not a comment"  # rotated quarterly', "ENCRYPTION_KEY='old-enc'", ''].join('\n');
    const { content } = rewrite(before, { SECRET_KEY: NEW_SECRET, ENCRYPTION_KEY: NEW_ENC });
    expect(content).toBe(
      [`export SECRET_KEY = "${NEW_SECRET}"  # rotated quarterly`, 'export SECRET_KEY_PREVIOUS = "old secret # not a comment"', `ENCRYPTION_KEY='${NEW_ENC}'`, "ENCRYPTION_KEY_PREVIOUS='old-enc'", ''].join('\n'));
    // The old value is copied as written, so it reads back exactly, `#` and spaces included.
    expect(readEnvValues(content).SECRET_KEY_PREVIOUS).toBe('old secret # not a comment');
  });

  it('keeps CRLF endings, line by line, and a last line without an ending', () => {
    const before = '# crlf\r\nSECRET_KEY=old\r\nOTHER=1\nENCRYPTION_KEY=old-enc';
    const { content } = rewrite(before, { SECRET_KEY: NEW_SECRET, ENCRYPTION_KEY: NEW_ENC });
    expect(content).toBe(`# crlf\r\nSECRET_KEY=${NEW_SECRET}\r\nSECRET_KEY_PREVIOUS=old\r\nOTHER=1\nENCRYPTION_KEY=${NEW_ENC}\r\nENCRYPTION_KEY_PREVIOUS=old-enc`);
    expect(splitLines(content).map((l) => l.eol)).toEqual(['\r\n', '\r\n', '\r\n', '\n', '\r\n', '']);
  });

  it('replaces an existing <KEY>_PREVIOUS where it is instead of adding a second one', () => {
    const before = ['SECRET_KEY_PREVIOUS=oldest', '# between', 'SECRET_KEY=old', ''].join('\n');
    const { content } = rewrite(before, { SECRET_KEY: NEW_SECRET });
    expect(content).toBe(['SECRET_KEY_PREVIOUS=old', '# between', `SECRET_KEY=${NEW_SECRET}`, ''].join('\n'));
    expect(content.match(/^SECRET_KEY_PREVIOUS=/gm)).toHaveLength(1);
    expect(content.match(/^SECRET_KEY=/gm)).toHaveLength(1);
  });

  it('rotating twice leaves each key and each _PREVIOUS exactly once', () => {
    const once = rewrite('SECRET_KEY=v1\n', { SECRET_KEY: 'v2' }).content;
    const twice = rewrite(once, { SECRET_KEY: 'v3' }).content;
    expect(twice).toBe('SECRET_KEY=v3\nSECRET_KEY_PREVIOUS=v2\n');
  });

  it('without keep_previous replaces the value and adds nothing', () => {
    const { content } = rewrite('A=1\nSECRET_KEY=old\nB=2\n', { SECRET_KEY: NEW_SECRET }, false);
    expect(content).toBe(`A=1\nSECRET_KEY=${NEW_SECRET}\nB=2\n`);
  });

  it('refuses a key that is missing, set twice, or written in a form it does not rewrite — naming no value', () => {
    expect(thrownDrError(() => rewrite('OTHER=1\n', { SECRET_KEY: NEW_SECRET })).userMessage).toContain('SECRET_KEY is not set in /srv/dms/.env');
    const twice = thrownDrError(() => rewrite('SECRET_KEY=a-value\nSECRET_KEY=b-value\n', { SECRET_KEY: NEW_SECRET }));
    expect(twice.userMessage).toContain('set 2 times');
    expect(twice.userMessage).toContain('lines 1, 2');
    const multiline = thrownDrError(() => rewrite('SECRET_KEY="first-line\nsecond-line"\n', { SECRET_KEY: NEW_SECRET }));
    expect(multiline.userMessage).toContain('form dr-bot does not rewrite');
    const yamlish = thrownDrError(() => rewrite('SECRET_KEY: yaml-style-value\n', { SECRET_KEY: NEW_SECRET }));
    expect(yamlish.userMessage).toContain('form dr-bot does not rewrite');
    for (const error of [twice, multiline, yamlish]) expect(error.userMessage).not.toMatch(/a-value|b-value|first-line|yaml-style-value/);
  });

  it('takes a line apart as dotenv reads it', () => {
    expect(parseAssignment('  export KEY = abc==  # c')).toMatchObject({ key: 'KEY', prefix: '  export ', equals: ' = ', quote: '', raw: 'abc==', value: 'abc==', trailer: '  # c' });
    expect(parseAssignment('KEY="a\\nb"')).toMatchObject({ quote: '"', value: 'a\nb' });
    expect(parseAssignment('# KEY=1')).toBeUndefined();
    expect(parseAssignment('')).toBeUndefined();
    expect(locateKeys('KEY="a\\nb"\n', ['KEY'], FILE).get('KEY')?.index).toBe(0);
  });
});

describe('env file on disk', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dr-env-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('replaces atomically with mode 0600 and leaves no temp file behind', async () => {
    const file = path.join(dir, '.env');
    await writeFile(file, 'SECRET_KEY=old\n', { mode: 0o644 });
    const snapshot = await readEnvFile(file);
    expect(snapshot.mode).toBe(0o644);
    await replaceFileAtomically(file, 'SECRET_KEY=new\n', { owner: snapshot, expected: snapshot.bytes });
    expect(await readFile(file, 'utf8')).toBe('SECRET_KEY=new\n');
    expect((await lstat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['.env']);
  });

  it('refuses to replace a file that changed since it was read, and cleans up', async () => {
    const file = path.join(dir, '.env');
    await writeFile(file, 'SECRET_KEY=old\n');
    const snapshot = await readEnvFile(file);
    await writeFile(file, 'SECRET_KEY=edited-by-hand\n');
    await expect(replaceFileAtomically(file, 'SECRET_KEY=new\n', { owner: snapshot, expected: snapshot.bytes })).rejects.toThrow(/changed while/);
    expect(await readFile(file, 'utf8')).toBe('SECRET_KEY=edited-by-hand\n');
    expect(await readdir(dir)).toEqual(['.env']);
  });

  it('refuses a symlink and a missing file', async () => {
    const target = path.join(dir, 'real.env');
    await writeFile(target, 'SECRET_KEY=old\n');
    await symlink(target, path.join(dir, '.env'));
    await expect(readEnvFile(path.join(dir, '.env'))).rejects.toThrow(/symbolic link/);
    await expect(readEnvFile(path.join(dir, 'missing.env'))).rejects.toThrow(/does not exist/);
  });

  it('writes a private copy 0600, never over an existing file', async () => {
    const copy = path.join(dir, '.env.pre-1');
    await writePrivateFile(copy, Buffer.from('SECRET_KEY=old\n'));
    expect((await lstat(copy)).mode & 0o777).toBe(0o600);
    await expect(writePrivateFile(copy, Buffer.from('x'))).rejects.toThrow(/EEXIST/);
  });
});
