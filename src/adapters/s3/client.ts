import { S3Client } from '@aws-sdk/client-s3';

/** Connection settings for one S3 (or S3-compatible) endpoint. */
export interface S3Settings {
  region: string;
  endpoint?: string | undefined;
  forcePathStyle?: boolean | undefined;
  /**
   * A connection or transfer silent for this long fails (default 30 s, `backups.s3_timeout`): idle, not total,
   * so a large upload may take long but never sits silent.
   */
  idleTimeoutMs?: number | undefined;
  /** Tries per request, the first included (default 2, `backups.s3_attempts`). */
  maxAttempts?: number | undefined;
}

/** Default per-request idle timeout: with 2 attempts a hung store fails a request within about a minute. */
export const S3_IDLE_TIMEOUT_MS = 30_000;
/** Default tries per request. */
export const S3_ATTEMPTS = 2;
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * An S3 client that streams plain bodies (S3-compatible stores mangle aws-chunked uploads, STACK-NOTES) and
 * whose requests are bounded: each try is silent for at most the idle timeout, and once a request has timed
 * out, the requests that follow within that timeout fail at once instead of each waiting it out again. So a
 * step of several requests against a hung store fails in about `maxAttempts × idleTimeoutMs`, not a multiple.
 */
export function createS3Client(settings: S3Settings): S3Client {
  // The SDK warns on every process start under Node 20 (its future releases need 22): noise on every CLI
  // call, in the middle of an operator's output. Node 20 is this project's supported runtime.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const idleTimeoutMs = settings.idleTimeoutMs ?? S3_IDLE_TIMEOUT_MS;
  const client = new S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle ?? Boolean(settings.endpoint),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: settings.maxAttempts ?? S3_ATTEMPTS,
    requestHandler: { connectionTimeout: Math.min(CONNECT_TIMEOUT_MS, idleTimeoutMs), socketTimeout: idleTimeoutMs },
  });
  let silentUntil = 0;
  client.middlewareStack.add(
    (next) => async (args) => {
      if (Date.now() < silentUntil) {
        throw Object.assign(new Error(`not sent: the store timed out on a request less than ${Math.round(idleTimeoutMs / 1000)} s ago`), { name: 'TimeoutError' });
      }
      try {
        return await next(args);
      } catch (error) {
        if ((error as Error).name === 'TimeoutError') silentUntil = Date.now() + idleTimeoutMs;
        throw error;
      }
    },
    // Around the retries: a request that exhausted its attempts on timeouts opens the window.
    { step: 'initialize', name: 'drHungStoreGuard' },
  );
  return client;
}

/** Splits `s3://bucket/some/prefix` into bucket and prefix (no leading or trailing slash). */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!match?.[1]) throw new Error(`not an s3:// URL: ${url}`);
  return { bucket: match[1], prefix: (match[2] ?? '').replace(/\/+$/, '') };
}
