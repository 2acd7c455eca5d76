import type { Transform } from 'node:stream';
import type { EncryptionInfo } from '../backup/encryption.ts';

/** Encrypts backups at rest in a standard format (age, with DR_BACKUP_KEY as its passphrase); absent when no key is set. */
export interface FileCipher {
  /** What a manifest records about files this cipher wrote (never the key; its fingerprint only). */
  readonly info: EncryptionInfo;
  /** Whether a file starting with these bytes (its first 64 at most) is in this cipher's format. */
  recognises(head: Buffer): boolean;
  /** A stream that turns what is written into it into one encrypted file. */
  encrypt(): Transform;
  /**
   * A stream that decrypts a file this cipher wrote and passes any other file through unchanged (backups
   * stored before encryption); `ready` rejects when the file is encrypted but this key does not open it.
   */
  decrypt(): Transform & { ready: Promise<'encrypted' | 'plain'> };
}
