import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgeError, AgePassphrase, scryptKey } from '../../src/adapters/crypto/age-passphrase.ts';
import { ageWithPassphrase } from '../helpers/age-cli.ts';

const PASSPHRASE = 'correct horse battery staple';
const CHUNK = 64 * 1024;

// Fed in uneven pieces, as streams deliver them.
async function through(stream: NodeJS.ReadWriteStream, input: Buffer, piece = 7919): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let at = 0; at < input.length; at += piece) pieces.push(input.subarray(at, at + piece));
  const [, out] = await Promise.all([pipeline(Readable.from(pieces), stream), buffer(stream)]);
  return out;
}

describe('age format against Debian’s age CLI', () => {
  let dir: string;
  let scryptRuns = 0;
  const counting: typeof scryptKey = (...args) => {
    scryptRuns += 1;
    return scryptKey(...args);
  };
  // age's own work factor: what an operator's `age -d` meets on a real backup.
  const key = new AgePassphrase(PASSPHRASE, { derive: counting });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dr-age-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const sizes = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17, 1_000_003];

  it('writes files that `age -d` decrypts to the exact bytes, every size around the 64 KiB chunks', async () => {
    for (const size of sizes) {
      const plain = randomBytes(size);
      const sealed = await through(key.encrypt(), plain);
      expect(sealed.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');
      const file = path.join(dir, `ours-${size}.age`);
      await writeFile(file, sealed);
      const result = await ageWithPassphrase('decrypt', file, `${file}.out`, PASSPHRASE);
      expect(result.code, result.output).toBe(0);
      // age creates its output on the first byte written: an empty plaintext leaves none.
      const out = size === 0 ? await readFile(`${file}.out`).catch(() => Buffer.alloc(0)) : await readFile(`${file}.out`);
      expect(out.equals(plain), `size ${size}`).toBe(true);
    }
    // One header for the whole session: eight files, one scrypt.
    expect(scryptRuns).toBe(1);
  }, 120_000);

  it('each file gets its own payload nonce, so equal plaintexts never give equal ciphertexts', async () => {
    const plain = Buffer.from('the same document twice');
    const [a, b] = [await through(key.encrypt(), plain), await through(key.encrypt(), plain)];
    expect(a.equals(b)).toBe(false);
    expect(a.includes(plain)).toBe(false);
  });

  it('decrypts what `age -p` wrote, and opens 2,000 files of one header with one scrypt', async () => {
    const opener = new AgePassphrase(PASSPHRASE, { derive: counting });
    const before = scryptRuns;
    for (const size of [CHUNK, 2 * CHUNK + 5]) {
      const plain = randomBytes(size);
      const file = path.join(dir, `theirs-${size}`);
      await writeFile(file, plain);
      const result = await ageWithPassphrase('encrypt', file, `${file}.age`, PASSPHRASE);
      expect(result.code, result.output).toBe(0);
      const decrypting = opener.decrypt();
      const out = await through(decrypting, await readFile(`${file}.age`));
      expect(await decrypting.ready).toBe('encrypted');
      expect(out.equals(plain), `size ${size}`).toBe(true);
    }
    // The CLI makes a header per file: one scrypt each.
    expect(scryptRuns - before).toBe(2);
    // A cheaper work factor from here on: the point is how often scrypt runs, not how long.
    const writer = new AgePassphrase(PASSPHRASE, { logN: 12 });
    const sealed = await Promise.all(Array.from({ length: 2000 }, (_, i) => through(writer.encrypt(), Buffer.from(`document ${i}`))));
    const fresh = new AgePassphrase(PASSPHRASE, { derive: counting });
    const runs = scryptRuns;
    const opened = await Promise.all(sealed.map((file) => through(fresh.decrypt(), file)));
    expect(opened.map(String)).toEqual(sealed.map((_, i) => `document ${i}`));
    expect(scryptRuns - runs).toBe(1);
  }, 120_000);

  it('refuses the wrong passphrase as a key problem, and damage or truncation as damage', async () => {
    const plain = randomBytes(3 * CHUNK + 100);
    const sealed = await through(key.encrypt(), plain);
    const wrong = new AgePassphrase('not the passphrase', { logN: 12 });
    await expect(through(wrong.decrypt(), sealed)).rejects.toMatchObject({ name: 'AgeError', reason: 'key' });
    const flipped = Buffer.from(sealed);
    flipped[flipped.length - 70_000]! ^= 1;
    await expect(through(key.decrypt(), flipped)).rejects.toMatchObject({ reason: 'damaged' });
    const headerEnd = sealed.indexOf('\n', sealed.indexOf('\n---') + 1) + 1;
    // Cut exactly after a full chunk: the last remaining chunk was not sealed as the final one.
    const cut = sealed.subarray(0, headerEnd + 16 + (CHUNK + 16));
    await expect(through(key.decrypt(), cut)).rejects.toMatchObject({ reason: 'damaged' });
    await expect(through(key.decrypt(), sealed.subarray(0, 40))).rejects.toBeInstanceOf(AgeError);
    // And the CLI agrees that the cut file is not whole.
    await writeFile(path.join(dir, 'cut.age'), cut);
    expect((await ageWithPassphrase('decrypt', path.join(dir, 'cut.age'), path.join(dir, 'cut.out'), PASSPHRASE)).code).not.toBe(0);
  }, 60_000);

  it('passes anything that is not age through untouched (backups stored before encryption)', async () => {
    for (const plain of [Buffer.alloc(0), Buffer.from('short'), Buffer.from('SQLite format 3\0'), randomBytes(CHUNK * 2 + 3), Buffer.from('age-encryption.org/v2\nnot ours')]) {
      const decrypting = key.decrypt();
      expect((await through(decrypting, plain, 5)).equals(plain)).toBe(true);
      expect(await decrypting.ready).toBe('plain');
    }
  });
});
