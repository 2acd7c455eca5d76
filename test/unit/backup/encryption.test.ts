import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { decrypt, encryptingStream } from '../../../src/backup/encryption.ts';

async function encrypt(secret: string, plain: Buffer): Promise<Buffer> {
  const { stream } = encryptingStream(secret);
  return buffer(Readable.from([plain.subarray(0, 7), plain.subarray(7)]).pipe(stream));
}

describe('backup encryption (AES-256-GCM, scrypt)', () => {
  const plain = Buffer.from('SECRET_KEY=very-secret-value\nENCRYPTION_KEY=another\n');

  it('round-trips, and never contains the plaintext', async () => {
    const sealed = await encrypt('key-one', plain);
    expect(sealed.includes(Buffer.from('very-secret-value'))).toBe(false);
    expect(decrypt('key-one', sealed).equals(plain)).toBe(true);
  });

  it('uses a fresh salt and nonce each time', async () => {
    expect((await encrypt('key-one', plain)).equals(await encrypt('key-one', plain))).toBe(false);
  });

  it('refuses the wrong key and any flipped byte', async () => {
    const sealed = await encrypt('key-one', plain);
    expect(() => decrypt('key-two', sealed)).toThrow(/wrong DR_BACKUP_KEY, or the file was changed/);
    for (const index of [40, sealed.length - 1]) {
      const damaged = Buffer.from(sealed);
      damaged[index]! ^= 0x01;
      expect(() => decrypt('key-one', damaged)).toThrow(/wrong DR_BACKUP_KEY, or the file was changed/);
    }
  });

  it('describes itself by the key’s fingerprint only', () => {
    const { info } = encryptingStream('key-one');
    expect(info).toEqual({ algorithm: 'aes-256-gcm', kdf: 'scrypt', key_fingerprint: expect.stringMatching(/^[0-9a-f]{8}$/) });
    expect(JSON.stringify(info)).not.toContain('key-one');
  });

  it('encrypts an empty input', async () => {
    expect(decrypt('k', await encrypt('k', Buffer.alloc(0))).length).toBe(0);
  });
});
