import { createHash } from 'node:crypto';
import { inspect } from 'node:util';

/** First 8 hex of SHA-256: how a secret is shown anywhere a human might read it. */
export function fingerprint(value: string | Buffer): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 8);
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
