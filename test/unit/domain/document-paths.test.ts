import { describe, expect, it } from 'vitest';
import { documentFile, mapDocumentPath } from '../../../src/domain/document-paths.ts';
import { failureLines, failureReason, groupFailures } from '../../../src/domain/document-failures.ts';

const layout = { root: '/srv/dms/uploads', prefix: '/app/uploads' };

describe('mapDocumentPath: documents.file_path → a path in the storage', () => {
  it.each([
    ['relative to the root', 'tenant-1/a.pdf', 'tenant-1/a.pdf'],
    ['relative, with ./ and doubled slashes', './tenant-1//a.pdf', 'tenant-1/a.pdf'],
    ['relative, with a .. that stays inside', 'tenant-1/x/../a.pdf', 'tenant-1/a.pdf'],
    ['absolute under the root', '/srv/dms/uploads/tenant-1/a.pdf', 'tenant-1/a.pdf'],
    ['absolute under the DMS prefix', '/app/uploads/tenant-1/a.pdf', 'tenant-1/a.pdf'],
    ['absolute under the prefix, with a .. that stays inside', '/app/uploads/tenant-2/../tenant-1/a.pdf', 'tenant-1/a.pdf'],
    ['a name that only looks like ..', 'tenant-1/..a.pdf', 'tenant-1/..a.pdf'],
  ])('maps %s', (_what, filePath, relative) => {
    expect(mapDocumentPath(filePath, layout)).toEqual({ relative });
  });

  it.each([
    ['a .. that climbs out', '../etc/passwd', 'path escapes the uploads folder: ../etc/passwd'],
    ['a .. deeper that climbs out', 'tenant-1/../../x.pdf', 'path escapes the uploads folder: tenant-1/../../x.pdf'],
    ['a .. out of the prefix', '/app/uploads/../secrets.env', 'path escapes the uploads folder: /app/uploads/../secrets.env is not under /srv/dms/uploads or /app/uploads'],
    ['a sibling folder sharing the prefix text', '/app/uploads-old/a.pdf', 'path escapes the uploads folder: /app/uploads-old/a.pdf is not under /srv/dms/uploads or /app/uploads'],
    ['another absolute folder', '/etc/passwd', 'path escapes the uploads folder: /etc/passwd is not under /srv/dms/uploads or /app/uploads'],
    ['the root itself', '/srv/dms/uploads', 'path escapes the uploads folder: /srv/dms/uploads is not under /srv/dms/uploads or /app/uploads'],
    ['the prefix itself, with a slash', '/app/uploads/', 'path escapes the uploads folder: /app/uploads/'],
    ['a relative path naming the root', '.', 'path escapes the uploads folder: .'],
    ['an empty path', '', 'path escapes the uploads folder: empty or not a path'],
    ['a NUL byte', 'a\0b.pdf', 'path escapes the uploads folder: empty or not a path'],
  ])('refuses %s', (_what, filePath, escapes) => {
    expect(mapDocumentPath(filePath, layout)).toEqual({ escapes });
  });

  it('without a prefix, only the root counts; in a bucket, no absolute path does', () => {
    expect(mapDocumentPath('/app/uploads/a.pdf', { root: '/srv/dms/uploads' })).toEqual({ escapes: 'path escapes the uploads folder: /app/uploads/a.pdf is not under /srv/dms/uploads' });
    expect(mapDocumentPath('/a.pdf', {})).toEqual({ escapes: 'path escapes the uploads folder: /a.pdf is an absolute path, but the documents are in a bucket' });
    expect(mapDocumentPath('tenant-1/a.pdf', {})).toEqual({ relative: 'tenant-1/a.pdf' });
  });

  it('documentFile resolves inside the root through the same mapping, and throws EESCAPE outside it', () => {
    expect(documentFile('/srv/dms/uploads', 'tenant-1/a.pdf')).toBe('/srv/dms/uploads/tenant-1/a.pdf');
    expect(documentFile('/srv/dms/uploads', '/srv/dms/uploads/tenant-1/a.pdf')).toBe('/srv/dms/uploads/tenant-1/a.pdf');
    expect(() => documentFile('/srv/dms/uploads', '../x')).toThrow(expect.objectContaining({ code: 'EESCAPE', message: 'path escapes the uploads folder: ../x' }));
    expect(() => documentFile('/srv/dms/uploads', '/app/uploads/a.pdf')).toThrow(expect.objectContaining({ code: 'EESCAPE' }));
  });
});

describe('document failures: one path-free reason per cause, grouped', () => {
  it('names file-system and S3 errors by what they mean, without the path', () => {
    expect(failureReason(Object.assign(new Error("EACCES: permission denied, open '/srv/dms/uploads/a.pdf'"), { code: 'EACCES' }))).toBe('permission denied');
    expect(failureReason(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe('missing');
    expect(failureReason(Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' }))).toBe('missing');
    expect(failureReason(Object.assign(new Error('x'), { code: 'EWEIRD' }))).toBe('EWEIRD');
    expect(failureReason(new Error("socket hang up near '/srv/a.pdf': later"))).toBe('socket hang up near …');
  });

  it('groups by reason, largest first, with a few example ids', () => {
    const items = [
      ...[9, 3, 12, 5, 20, 31, 40].map((id) => ({ id, reason: 'permission denied' })),
      { id: 7, reason: 'missing' },
    ];
    const groups = groupFailures(items);
    expect(groups).toEqual([
      { reason: 'permission denied', count: 7, ids: [3, 5, 9, 12, 20, 31, 40] },
      { reason: 'missing', count: 1, ids: [7] },
    ]);
    expect(failureLines(groups)).toEqual(['7 × permission denied: documents 3, 5, 9, 12, 20 and 2 more', '1 × missing: document 7']);
  });
});
