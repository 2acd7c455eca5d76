import { DrError } from '../../domain/errors.ts';

/** What went wrong with an S3 request, as far as the caller must act on it. */
export type S3Problem = 'missing' | 'no-such-bucket' | 'access-denied' | 'bad-credentials' | 'throttled' | 'timeout' | 'unreachable' | 'other';

/** Which bucket a request went to, and what it is to the DMS: its documents, or the backup repository. */
export interface S3Place {
  bucket: string;
  role: 'documents' | 'repository';
  /** Where it is, as shown to people (`s3://bucket/prefix`). */
  location: string;
  /** The store's endpoint, for stores other than AWS (named when it cannot be reached). */
  endpoint?: string | undefined;
  /** The per-request idle timeout, named when a request ran into it. */
  timeoutMs?: number | undefined;
}

interface SdkError {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
  $retryable?: unknown;
}

const MISSING = new Set(['NoSuchKey', 'NotFound', 'NoSuchUpload']);
const DENIED = new Set(['AccessDenied', 'AllAccessDisabled', 'AccountProblem', 'Forbidden']);
const CREDENTIALS = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired', 'CredentialsProviderError', 'InvalidSecurity']);
const THROTTLED = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded', 'ServiceUnavailable']);
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE']);

/**
 * Sorts an AWS SDK v3 error by what it means. The SDK carries `name` (and `Code`) and
 * `$metadata.httpStatusCode`, never `code`; HEAD answers have no body, so for them only the status tells.
 */
export function classifyS3Error(error: unknown): S3Problem {
  const e = (error ?? {}) as SdkError;
  const name = e.name ?? e.Code ?? '';
  const status = e.$metadata?.httpStatusCode;
  if (name === 'NoSuchBucket') return 'no-such-bucket';
  if (MISSING.has(name)) return 'missing';
  if (CREDENTIALS.has(name)) return 'bad-credentials';
  if (DENIED.has(name)) return 'access-denied';
  if (THROTTLED.has(name) || status === 429 || status === 503) return 'throttled';
  if (name === 'TimeoutError' || e.code === 'ETIMEDOUT' || name === 'RequestTimeout') return 'timeout';
  if (UNREACHABLE.has(e.code ?? '') || UNREACHABLE.has(name)) return 'unreachable';
  if (status === 404) return 'missing';
  if (status === 403) return 'access-denied';
  return 'other';
}

/** Problems that are the store's, not one object's: every further request would meet them too. */
export function isStoreLevel(problem: S3Problem): boolean {
  return problem !== 'missing' && problem !== 'other';
}

function roleName(place: S3Place): string {
  return place.role === 'documents' ? 'documents bucket' : 'repository bucket';
}

function seconds(ms: number | undefined): string {
  return ms === undefined ? 'its timeout' : `${Math.round(ms / 100) / 10} s`;
}

function detail(error: unknown, action: string): string {
  const e = (error ?? {}) as SdkError;
  const status = e.$metadata?.httpStatusCode;
  const name = e.name && e.name !== 'Error' ? e.name : (e.Code ?? e.code ?? 'error');
  // A 403/404 HEAD has no body: the SDK names it "UnknownError" or "Forbidden", which says nothing; the status does.
  return `${action}: ${name === 'UnknownError' ? 'no reason given' : name}${status ? `, HTTP ${status}` : ''}`;
}

/**
 * The error to throw for a failed request, naming the bucket and its role. A missing object becomes an
 * Error with code ENOENT (callers treat it like a missing file); a problem of the whole store becomes one
 * DrError STORE_UNAVAILABLE, which stops a run at once instead of failing every document in turn.
 */
export function s3Failure(error: unknown, place: S3Place, action: string, key?: string): Error {
  if (error instanceof DrError) return error;
  const classified = classifyS3Error(error);
  // A HEAD answer has no body: on the bucket itself, a 404 can only mean the bucket is not there.
  const problem = classified === 'missing' && action === 'HeadBucket' ? 'no-such-bucket' : classified;
  const bucket = `${roleName(place)} "${place.bucket}"`;
  const why = detail(error, action);
  switch (problem) {
    case 'missing':
      // The location names the bucket, and the role says which: `… is not in the repository s3://dr-backups/alphha`.
      return Object.assign(new Error(`${key ?? 'the object'} is not in the ${place.role === 'repository' ? 'repository' : 'documents bucket'} ${place.location}`), { code: 'ENOENT', cause: error });
    case 'no-such-bucket':
      return new DrError('STORE_UNAVAILABLE', `The ${bucket} does not exist (${place.location}; ${why.includes('NoSuchBucket') ? why : `${why}, NoSuchBucket`}).`, { cause: error });
    case 'access-denied':
      return new DrError('STORE_UNAVAILABLE', `Access denied to the ${bucket} (${place.location}; ${why}): check the credentials and the bucket policy.`, { cause: error });
    case 'bad-credentials':
      return new DrError('STORE_UNAVAILABLE', `The ${bucket} refused the credentials (${place.location}; ${why}): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.`, { cause: error });
    case 'throttled':
      return new DrError('STORE_UNAVAILABLE', `The ${bucket} is throttling requests (${place.location}; ${why}); try again later.`, { cause: error });
    case 'timeout':
      return new DrError('STORE_UNAVAILABLE', `The ${bucket} did not answer within ${seconds(place.timeoutMs)} (${place.location}${place.endpoint ? ` at ${place.endpoint}` : ''}; ${action}; backups.s3_timeout).`, { cause: error });
    case 'unreachable':
      return new DrError('STORE_UNAVAILABLE', `Cannot reach the ${bucket} (${place.location}${place.endpoint ? ` at ${place.endpoint}` : ''}; ${action}: ${(error as SdkError).code ?? (error as SdkError).name}).`, { cause: error });
    default: {
      const message = (error as SdkError).message;
      return Object.assign(new Error(`The ${bucket} failed ${why}${message && message !== 'UnknownError' && !why.includes(message) ? ` (${message})` : ''} (${place.location})`), { cause: error });
    }
  }
}

/** The place of a documents bucket given by name only (tests, tools) or in full. */
export function documentsPlace(bucketOrPlace: string | S3Place): S3Place {
  return typeof bucketOrPlace === 'string' ? { bucket: bucketOrPlace, role: 'documents', location: `s3://${bucketOrPlace}` } : bucketOrPlace;
}
