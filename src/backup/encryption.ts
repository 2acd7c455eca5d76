import { createCipheriv, createDecipheriv, randomBytes, scryptSync, type CipherGCM } from 'node:crypto';
import { Transform } from 'node:stream';
import { fingerprint } from '../config/secret.ts';

// File layout: magic, scrypt salt, GCM nonce, ciphertext, 16-byte GCM tag. Authenticated: a flipped bit fails to decrypt.
const MAGIC = Buffer.from('DRBK1\n');
const SALT_BYTES = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * How an encrypted backup is described in its manifest (never the key itself): `age` (age-encryption.org/v1,
 * passphrase recipient) for everything written now; `aes-256-gcm` for config archives written before, in
 * this file's own format, which restores still read.
 */
export interface EncryptionInfo {
  algorithm: 'age' | 'aes-256-gcm';
  kdf: 'scrypt';
  /** DR_BACKUP_KEY's fingerprint (keyed by the installation): which key opens it. */
  key_fingerprint: string;
}

/** Whether a file starts as this module's own (pre-age) format does. */
export function isLegacyEncrypted(head: Buffer): boolean {
  return head.subarray(0, MAGIC.length).equals(MAGIC);
}

function deriveKey(secret: string, salt: Buffer): Buffer {
  return scryptSync(secret, salt, 32, { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
}

/** A stream that encrypts what passes through it with AES-256-GCM under a key derived from `secret`. */
export function encryptingStream(secret: string): { stream: Transform; info: EncryptionInfo } {
  const salt = randomBytes(SALT_BYTES);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', deriveKey(secret, salt), iv) as CipherGCM;
  let headerSent = false;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const out = cipher.update(chunk);
      if (!headerSent) {
        headerSent = true;
        return done(null, Buffer.concat([MAGIC, salt, iv, out]));
      }
      done(null, out);
    },
    flush(done) {
      const tail = cipher.final();
      done(null, Buffer.concat([headerSent ? Buffer.alloc(0) : Buffer.concat([MAGIC, salt, iv]), tail, cipher.getAuthTag()]));
    },
  });
  return { stream, info: { algorithm: 'aes-256-gcm', kdf: 'scrypt', key_fingerprint: fingerprint(secret) } };
}

/** Decrypts a whole file written by `encryptingStream`; throws when the key is wrong or a byte was changed. */
export function decrypt(secret: string, data: Buffer): Buffer {
  if (!data.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('not an encrypted dr-bot backup');
  const salt = data.subarray(MAGIC.length, MAGIC.length + SALT_BYTES);
  const iv = data.subarray(MAGIC.length + SALT_BYTES, MAGIC.length + SALT_BYTES + IV_BYTES);
  const body = data.subarray(MAGIC.length + SALT_BYTES + IV_BYTES, data.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', deriveKey(secret, salt), iv);
  decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new Error('cannot decrypt: wrong DR_BACKUP_KEY, or the file was changed');
  }
}
