/** Every failure a user can see carries one of these codes; the message is safe to post in Slack. */
export type DrErrorCode =
  | 'CONFIG_INVALID'
  | 'COMMAND_UNKNOWN'
  | 'COMMAND_MALFORMED'
  | 'COMMAND_TOO_LONG'
  | 'COMMAND_NOT_BUILT'
  | 'NOT_AUTHORIZED'
  | 'STATE_UNAVAILABLE'
  | 'PROBE_FAILED'
  | 'BACKUP_FAILED'
  | 'BACKUP_NOT_FOUND'
  | 'STORE_UNAVAILABLE'
  | 'RESTORE_FAILED'
  | 'GATE_REFUSED'
  | 'NOTHING_TO_UNDO'
  | 'INCIDENT_STATE'
  | 'ALERT_INVALID'
  | 'INTERNAL';

/** The one error type procedures throw; `userMessage` never contains secrets or stack traces. */
export class DrError extends Error {
  readonly code: DrErrorCode;
  readonly userMessage: string;
  readonly hint: string | undefined;

  constructor(code: DrErrorCode, userMessage: string, options: { hint?: string; cause?: unknown } = {}) {
    super(userMessage, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DrError';
    this.code = code;
    this.userMessage = userMessage;
    this.hint = options.hint;
  }
}

/** Wraps anything thrown into a DrError so callers render one shape; unknown errors stay opaque to users. */
export function toDrError(error: unknown): DrError {
  if (error instanceof DrError) return error;
  return new DrError('INTERNAL', 'Something went wrong inside dr-bot; the details are in its log.', { cause: error });
}

/** Short text of any thrown value, for logs and probe reasons (never for secrets-bearing errors). */
export function errorText(error: unknown): string {
  if (error instanceof DrError) return error.userMessage;
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

/**
 * Whether a failure is the whole store's (a bucket that is gone, refused credentials, a store that does not
 * answer) rather than one object's: a run that meets one stops there, with one error, instead of failing
 * every document in turn.
 */
export function isStoreUnavailable(error: unknown): boolean {
  return error instanceof DrError && error.code === 'STORE_UNAVAILABLE';
}
