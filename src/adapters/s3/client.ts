import { S3Client } from '@aws-sdk/client-s3';

/** Connection settings for one S3 (or S3-compatible) endpoint. */
export interface S3Settings {
  region: string;
  endpoint?: string | undefined;
  forcePathStyle?: boolean | undefined;
  /** A connection or transfer silent for this long fails (default 60 s): a hung store must fail the job, not hold it. */
  idleTimeoutMs?: number;
}

const CONNECT_TIMEOUT_MS = 10_000;
const IDLE_TIMEOUT_MS = 60_000;

/** An S3 client that streams plain bodies: S3-compatible stores mangle aws-chunked uploads (STACK-NOTES). */
export function createS3Client(settings: S3Settings): S3Client {
  // The SDK warns on every process start under Node 20 (its future releases need 22): noise on every CLI
  // call, in the middle of an operator's output. Node 20 is this project's supported runtime.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle ?? Boolean(settings.endpoint),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 2,
    // Idle, not total: a large upload may take long, but never sits silent.
    requestHandler: { connectionTimeout: Math.min(CONNECT_TIMEOUT_MS, settings.idleTimeoutMs ?? CONNECT_TIMEOUT_MS), socketTimeout: settings.idleTimeoutMs ?? IDLE_TIMEOUT_MS },
  });
}

/** Splits `s3://bucket/some/prefix` into bucket and prefix (no leading or trailing slash). */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!match?.[1]) throw new Error(`not an s3:// URL: ${url}`);
  return { bucket: match[1], prefix: (match[2] ?? '').replace(/\/+$/, '') };
}
