import { describe, expect, it } from 'vitest';
import { classifyS3Error, s3Failure, type S3Place } from '../../../src/adapters/s3/errors.ts';
import { DrError, isStoreUnavailable } from '../../../src/domain/errors.ts';
import { confirmedSha256 } from '../../../src/adapters/repository/s3-backup-repository.ts';

// Errors shaped as the AWS SDK v3 throws them: `name` and `$metadata.httpStatusCode`, no `code`.
const sdk = (name: string, status?: number, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(name === 'UnknownError' ? 'UnknownError' : `${name} message`), { name, ...(status ? { $metadata: { httpStatusCode: status } } : {}), ...extra });

const repository: S3Place = { bucket: 'dr-backups', role: 'repository', location: 's3://dr-backups/alphha', endpoint: 'http://127.0.0.1:9000', timeoutMs: 30_000 };
const documents: S3Place = { bucket: 'alphha-docs', role: 'documents', location: 's3://alphha-docs' };

describe('classifyS3Error', () => {
  it.each([
    [sdk('NoSuchKey', 404), 'missing'],
    [sdk('NotFound', 404), 'missing'],
    [sdk('NoSuchBucket', 404), 'no-such-bucket'],
    [sdk('AccessDenied', 403), 'access-denied'],
    // A HEAD 403 has no body: only the status tells.
    [sdk('UnknownError', 403), 'access-denied'],
    [sdk('Forbidden', 403), 'access-denied'],
    [sdk('InvalidAccessKeyId', 403), 'bad-credentials'],
    [sdk('SignatureDoesNotMatch', 403), 'bad-credentials'],
    [sdk('SlowDown', 503), 'throttled'],
    [sdk('UnknownError', 429), 'throttled'],
    [sdk('TimeoutError'), 'timeout'],
    [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'unreachable'],
    [sdk('InternalError', 500), 'other'],
  ])('%s is %s', (error, problem) => {
    expect(classifyS3Error(error)).toBe(problem);
  });
});

describe('s3Failure', () => {
  it('turns a missing object into ENOENT naming the key and the bucket with its role', () => {
    const error = s3Failure(sdk('NoSuchKey', 404), documents, 'GetObject', 'tenant-1/doc-1.pdf');
    expect(error).toMatchObject({ code: 'ENOENT' });
    expect(error.message).toBe('tenant-1/doc-1.pdf is not in the documents bucket s3://alphha-docs');
    expect(s3Failure(sdk('NoSuchKey', 404), repository, 'GetObject', 'manifests/x.json').message).toBe('manifests/x.json is not in the repository s3://dr-backups/alphha');
    expect(isStoreUnavailable(error)).toBe(false);
  });

  it('says a 403 on HeadBucket is access denied to the repository bucket, never "UnknownError"', () => {
    const error = s3Failure(sdk('UnknownError', 403), repository, 'HeadBucket');
    expect(error).toBeInstanceOf(DrError);
    expect(isStoreUnavailable(error)).toBe(true);
    expect((error as DrError).userMessage).toBe('Access denied to the repository bucket "dr-backups" (s3://dr-backups/alphha; HeadBucket: no reason given, HTTP 403): check the credentials and the bucket policy.');
  });

  it('reads a 404 on HeadBucket as no such bucket', () => {
    expect((s3Failure(sdk('NotFound', 404), documents, 'HeadBucket') as DrError).userMessage).toBe('The documents bucket "alphha-docs" does not exist (s3://alphha-docs; HeadBucket: NotFound, HTTP 404, NoSuchBucket).');
  });

  it('names the timeout, the endpoint and the key that sets it', () => {
    expect((s3Failure(sdk('TimeoutError'), repository, 'PutObject') as DrError).userMessage).toBe(
      'The repository bucket "dr-backups" did not answer within 30 s (s3://dr-backups/alphha at http://127.0.0.1:9000; PutObject; backups.s3_timeout).',
    );
  });

  it('leaves an error of one object (a 500) per object, naming the bucket', () => {
    const error = s3Failure(sdk('InternalError', 500), repository, 'GetObject', 'manifests/x.json');
    expect(isStoreUnavailable(error)).toBe(false);
    expect(error.message).toBe('The repository bucket "dr-backups" failed GetObject: InternalError, HTTP 500 (InternalError message) (s3://dr-backups/alphha)');
  });
});

describe('confirmedSha256', () => {
  const sha256 = 'b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9';
  const md5 = '5eb63bbbe01eeed093cb22bb8f5acdc3';
  it('takes the store’s own checksum first, then an MD5 ETag, and nothing else', () => {
    expect(confirmedSha256({ ChecksumSHA256: Buffer.from(sha256, 'hex').toString('base64'), ETag: '"whatever"' }, sha256, md5)).toBe(sha256);
    expect(confirmedSha256({ ChecksumSHA256: Buffer.alloc(32).toString('base64'), ETag: `"${md5}"` }, sha256, md5)).toBeUndefined();
    expect(confirmedSha256({ ETag: `"${md5}"` }, sha256, md5)).toBe(sha256);
    expect(confirmedSha256({ ETag: '"00000000000000000000000000000000"' }, sha256, md5)).toBeUndefined();
    // An SSE-KMS or multipart ETag is no MD5 of the content: it proves nothing, the object is read back.
    expect(confirmedSha256({ ETag: `"${md5}-2"` }, sha256, md5)).toBeUndefined();
    expect(confirmedSha256({}, sha256, md5)).toBeUndefined();
  });
});
