import { createHmac, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';

// The key fingerprints are made with: this installation's, from the state store, once the store is open.
// Until then (or when the store cannot be opened) a random key of this process stands in: such fingerprints
// match nothing outside this process, which is better than an unkeyed hash anyone can test guesses against.
let fingerprintKey: Buffer | undefined;

/** Makes every fingerprint from now on keyed by this installation's key (kept in the state store). */
export function useFingerprintKey(key: Buffer): void {
  if (key.length < 32) throw new Error('a fingerprint key needs at least 32 bytes');
  fingerprintKey = Buffer.from(key);
}

/**
 * How a secret is shown anywhere a human might read it: the first 8 hex of HMAC-SHA-256 of the value under
 * the installation's key. Stable for one installation (the same value shows the same 8 digits in Slack, the
 * CLI and the audit log), and useless offline: without the key, a guessed passphrase cannot be checked
 * against it, as it could against a bare SHA-256 prefix.
 */
export function fingerprint(value: string | Buffer): string {
  fingerprintKey ??= randomBytes(32);
  return createHmac('sha256', fingerprintKey).update(value).digest('hex').slice(0, 8);
}

/** A secret value that refuses to print itself: logs, JSON and template strings see only a fingerprint. */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The raw value, for the one call that needs it (an SDK constructor, an HMAC). */
  reveal(): string {
    return this.#value;
  }

  get fingerprint(): string {
    return fingerprint(this.#value);
  }

  toString(): string {
    return `[secret ${this.fingerprint}]`;
  }

  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }
}
