import { createHash, createHmac, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fingerprint, Secret, useFingerprintKey } from '../../../src/config/secret.ts';

describe('secret fingerprints', () => {
  const value = 'hunter2-the-backup-passphrase';

  it('are keyed: 8 hex of HMAC-SHA-256 under the installation key, never a bare SHA-256 prefix', () => {
    const key = randomBytes(32);
    useFingerprintKey(key);
    expect(fingerprint(value)).toBe(createHmac('sha256', key).update(value).digest('hex').slice(0, 8));
    expect(fingerprint(value)).not.toBe(createHash('sha256').update(value).digest('hex').slice(0, 8));
    // Stable for one installation: the same value shows the same digits wherever it is shown.
    expect(new Secret(value).fingerprint).toBe(fingerprint(value));
    expect(String(new Secret(value))).toBe(`[secret ${fingerprint(value)}]`);
    expect(inspect(new Secret(value))).not.toContain(value);
  });

  it('differ between installations for the same value', () => {
    useFingerprintKey(randomBytes(32));
    const here = fingerprint(value);
    useFingerprintKey(randomBytes(32));
    expect(fingerprint(value)).not.toBe(here);
  });

  it('refuse a short key', () => {
    expect(() => useFingerprintKey(Buffer.alloc(8))).toThrow(/32 bytes/);
  });
});
