import { spawn } from 'node:child_process';
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Decrypter, Encrypter, Stanza, type Identity, type Recipient } from 'age-encryption';
import type { EncryptionInfo } from '../../backup/encryption.ts';
import { fingerprint } from '../../config/secret.ts';
import type { FileCipher } from '../../ports/file-cipher.ts';

// The age v1 format (c2sp.org/age) with a passphrase (scrypt) recipient, so that Debian's `age -d` opens any
// file dr-bot wrote. The header (scrypt stanza, HMAC) is written and checked by the age-encryption package;
// scrypt and the payload run on node:crypto, whose ChaCha20-Poly1305 is native code: the package's pure-JS
// cipher and scrypt would take the bot's event loop for seconds on every large dump.

/** The first line of every age file: how an encrypted object is told from one stored in clear. */
export const AGE_VERSION_LINE = Buffer.from('age-encryption.org/v1\n');

const CHUNK_BYTES = 64 * 1024;
const TAG_BYTES = 16;
const PAYLOAD_NONCE_BYTES = 16;
const FILE_KEY_BYTES = 16;
const SCRYPT_LABEL = 'age-encryption.org/v1/scrypt';
/** age's own default scrypt work factor (2^18: about a second and 256 MiB, spent in a child process). */
export const SCRYPT_LOG_N = 18;
// Headers asking for more are refused (age itself refuses above 2^22): a hostile file must not cost gigabytes.
const MAX_LOG_N = 22;
// A header longer than this is not one of ours (one scrypt stanza is under 200 bytes).
const MAX_HEADER_BYTES = 16 * 1024;
// Headers whose file key is known, per passphrase: restoring a snapshot reads thousands of objects that share a few.
const OPENED_HEADERS_MAX = 4096;

/** Why an age file could not be opened: the passphrase does not open it, or its bytes are not intact. */
export class AgeError extends Error {
  constructor(
    message: string,
    readonly reason: 'key' | 'damaged',
  ) {
    super(message);
    this.name = 'AgeError';
  }
}

// scrypt runs one at a time: each needs 256 MiB, and a restore may meet several headers at once.
let scryptQueue: Promise<unknown> = Promise.resolve();

/** scrypt(passphrase, salt, N = 2^logN, r = 8, p = 1) → 32 bytes, computed in a short-lived child process. */
export function scryptKey(passphrase: string, salt: Buffer, logN: number): Promise<Buffer> {
  const run = () =>
    new Promise<Buffer>((resolve, reject) => {
      const child = spawn(process.execPath, [fileURLToPath(new URL('./scrypt-child.mjs', import.meta.url))], { stdio: ['pipe', 'pipe', 'pipe'], env: {} });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
      child.once('error', reject);
      child.once('close', (code) => (code === 0 && /^[0-9a-f]{64}$/.test(out) ? resolve(Buffer.from(out, 'hex')) : reject(new Error(`scrypt failed (exit ${code}): ${err.trim()}`))));
      // The passphrase goes through a pipe: never on a command line or in an environment another user could read.
      child.stdin.end(JSON.stringify({ passphrase, salt: salt.toString('base64'), logN }));
    });
  const result = scryptQueue.then(run, run);
  scryptQueue = result.catch(() => {});
  return result;
}

// age's base64: standard alphabet, no padding.
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64').replace(/=+$/, '');

function hkdf(fileKey: Uint8Array, salt: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', fileKey, salt, info, 32));
}

// ChaCha20-Poly1305 of one small message under a fixed all-zero nonce (the scrypt stanza's body).
function sealFileKey(wrapKey: Buffer, fileKey: Uint8Array): Buffer {
  const cipher = createCipheriv('chacha20-poly1305', wrapKey, Buffer.alloc(12), { authTagLength: TAG_BYTES });
  return Buffer.concat([cipher.update(fileKey), cipher.final(), cipher.getAuthTag()]);
}

function openFileKey(wrapKey: Buffer, body: Uint8Array): Buffer | null {
  const decipher = createDecipheriv('chacha20-poly1305', wrapKey, Buffer.alloc(12), { authTagLength: TAG_BYTES });
  decipher.setAuthTag(body.subarray(FILE_KEY_BYTES));
  try {
    return Buffer.concat([decipher.update(body.subarray(0, FILE_KEY_BYTES)), decipher.final()]);
  } catch {
    return null;
  }
}

/** A sealing header: written at the top of every file of one session, and the file key it wraps. */
interface Sealing {
  header: Buffer;
  fileKey: Buffer;
}

/**
 * A passphrase (DR_BACKUP_KEY) as an age scrypt recipient and identity.
 *
 * scrypt is slow on purpose (2^18, about a second), and a document snapshot may store 20,000 objects, so files
 * are not each given a header of their own: one file key and its scrypt header are made per process and key
 * (the first time something is encrypted), and every file this process encrypts starts with that header,
 * followed by a fresh random 16-byte payload nonce. The payload key is HKDF(file key, nonce), so no two files
 * share a payload key or a chunk nonce, and each file is a complete age file that `age -d` opens on its own.
 * This departs from age's rule of one file key per file; what the shared header gives away is only that two
 * objects were written by the same process, which their place in one repository says anyway. Opening works
 * the other way round: file keys are remembered by header, so a restore runs scrypt once per header it
 * meets (one per process that wrote backups), not once per object.
 */
export class AgePassphrase implements FileCipher {
  #passphrase: string;
  private sealing: Promise<Sealing> | undefined;
  private readonly opened = new Map<string, Promise<Buffer>>();

  private readonly logN: number;
  private readonly derive: typeof scryptKey;

  constructor(passphrase: string, options: { logN?: number; derive?: typeof scryptKey } = {}) {
    if (passphrase.length === 0) throw new Error('an age passphrase cannot be empty');
    this.#passphrase = passphrase;
    this.logN = options.logN ?? SCRYPT_LOG_N;
    this.derive = options.derive ?? scryptKey;
  }

  get info(): EncryptionInfo {
    return { algorithm: 'age', kdf: 'scrypt', key_fingerprint: fingerprint(this.#passphrase) };
  }

  recognises(head: Buffer): boolean {
    return looksLikeAge(head);
  }

  /** A stream that turns what is written into it into one age file. */
  encrypt(): Transform {
    return new SealingStream(this.sealingHeader());
  }

  /**
   * A stream that decrypts an age file written for this passphrase, and passes anything else through
   * unchanged (backups stored before encryption, or with DR_BACKUP_KEY unset). `ready` settles once it knows
   * which: it rejects with an AgeError when the file is age but this passphrase does not open it.
   */
  decrypt(): Transform & { ready: Promise<'encrypted' | 'plain'> } {
    return new OpeningStream((header) => this.fileKeyOf(header));
  }

  /** The session's header, made on first use. */
  sealingHeader(): Promise<Sealing> {
    this.sealing ??= this.makeSealing();
    this.sealing.catch(() => (this.sealing = undefined));
    return this.sealing;
  }

  private async makeSealing(): Promise<Sealing> {
    let fileKey: Buffer | undefined;
    const recipient: Recipient = {
      wrapFileKey: async (key) => {
        fileKey = Buffer.from(key);
        const salt = randomBytes(16);
        const wrapKey = await this.derive(this.#passphrase, Buffer.concat([Buffer.from(SCRYPT_LABEL), salt]), this.logN);
        return [new Stanza(['scrypt', b64(salt), String(this.logN)], sealFileKey(wrapKey, key))];
      },
    };
    const encrypter = new Encrypter();
    encrypter.addRecipient(recipient);
    // An empty file is the header, its MAC, a nonce and one empty chunk: the header is kept for every file.
    const empty = Buffer.from(await encrypter.encrypt(new Uint8Array(0)));
    const end = empty.indexOf('\n', empty.indexOf('\n---') + 1);
    const header = empty.subarray(0, end + 1);
    this.opened.set(header.toString('latin1'), Promise.resolve(fileKey!));
    return { header, fileKey: fileKey! };
  }

  // The file key a header wraps for this passphrase; the header's MAC is checked by the package.
  private fileKeyOf(header: Buffer): Promise<Buffer> {
    const id = header.toString('latin1');
    let known = this.opened.get(id);
    if (!known) {
      if (this.opened.size >= OPENED_HEADERS_MAX) this.opened.delete(this.opened.keys().next().value!);
      known = this.unwrap(header);
      this.opened.set(id, known);
      known.catch(() => {});
    }
    return known;
  }

  private async unwrap(header: Buffer): Promise<Buffer> {
    const identity: Identity = {
      unwrapFileKey: async (stanzas) => {
        const scrypt = stanzas.find((s) => s.args[0] === 'scrypt');
        if (!scrypt) return null;
        if (stanzas.length !== 1) throw new AgeError('an age scrypt stanza must be the only one in its header', 'damaged');
        const [, salt64 = '', logText = ''] = scrypt.args;
        const salt = Buffer.from(salt64, 'base64');
        if (scrypt.args.length !== 3 || salt.length !== 16 || b64(salt) !== salt64 || !/^[1-9][0-9]*$/.test(logText) || scrypt.body.length !== 32) {
          throw new AgeError('invalid age scrypt stanza', 'damaged');
        }
        const logN = Number(logText);
        if (logN > MAX_LOG_N) throw new AgeError(`age scrypt work factor 2^${logN} is above the limit 2^${MAX_LOG_N}`, 'damaged');
        const wrapKey = await this.derive(this.#passphrase, Buffer.concat([Buffer.from(SCRYPT_LABEL), salt]), logN);
        const fileKey = openFileKey(wrapKey, scrypt.body);
        if (!fileKey) throw new AgeError('DR_BACKUP_KEY is not the passphrase this file was encrypted with', 'key');
        return fileKey;
      },
    };
    const decrypter = new Decrypter();
    decrypter.addIdentity(identity);
    try {
      return Buffer.from(await decrypter.decryptHeader(header));
    } catch (error) {
      if (error instanceof AgeError) throw error;
      const message = (error as Error).message;
      if (/no identity matched/.test(message)) throw new AgeError('the file is age-encrypted for another recipient, not with a passphrase', 'key');
      throw new AgeError(`invalid age header: ${message}`, 'damaged');
    }
  }
}

// The 12-byte nonce of chunk `counter`: an 11-byte big-endian counter, then 0x01 on the final chunk.
function chunkNonce(counter: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUInt32BE(Math.floor(counter / 2 ** 32), 3);
  nonce.writeUInt32BE(counter >>> 0, 7);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

/** Buffered input, taken back out in exact sizes with as little copying as the chunks allow. */
class ByteQueue {
  private parts: Buffer[] = [];
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.parts.push(chunk);
    this.length += chunk.length;
  }

  take(n: number): Buffer {
    const first = this.parts[0]!;
    if (first.length >= n) {
      this.length -= n;
      if (first.length === n) this.parts.shift();
      else this.parts[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const part = this.parts[0]!;
      const used = Math.min(part.length, n - filled);
      part.copy(out, filled, 0, used);
      filled += used;
      if (used === part.length) this.parts.shift();
      else this.parts[0] = part.subarray(used);
    }
    this.length -= n;
    return out;
  }

  /** Everything buffered, as one buffer, without taking it. */
  peekAll(): Buffer {
    if (this.parts.length > 1) this.parts = [Buffer.concat(this.parts)];
    return this.parts[0] ?? Buffer.alloc(0);
  }

  takeAll(): Buffer {
    return this.length === 0 ? Buffer.alloc(0) : this.take(this.length);
  }
}

/** Encrypts into one age file: header, nonce, then 64 KiB chunks, the last one flagged. */
class SealingStream extends Transform {
  private readonly queue = new ByteQueue();
  private payloadKey: Buffer | undefined;
  private counter = 0;

  constructor(private readonly sealing: Promise<Sealing>) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.queue.push(chunk);
    this.started().then(() => {
      // A full chunk is sealed only once more input follows it: the last chunk must carry the final flag.
      while (this.queue.length > CHUNK_BYTES) this.seal(this.queue.take(CHUNK_BYTES), false);
      done();
    }, done);
  }

  override _flush(done: TransformCallback): void {
    this.started().then(() => {
      this.seal(this.queue.takeAll(), true);
      done();
    }, done);
  }

  private async started(): Promise<void> {
    if (this.payloadKey) return;
    const { header, fileKey } = await this.sealing;
    if (this.payloadKey) return;
    const nonce = randomBytes(PAYLOAD_NONCE_BYTES);
    this.payloadKey = hkdf(fileKey, nonce, 'payload');
    this.push(Buffer.concat([header, nonce]));
  }

  private seal(plain: Buffer, last: boolean): void {
    const cipher = createCipheriv('chacha20-poly1305', this.payloadKey!, chunkNonce(this.counter, last), { authTagLength: TAG_BYTES });
    this.counter += 1;
    this.push(cipher.update(plain));
    cipher.final();
    this.push(cipher.getAuthTag());
  }
}

/** Decrypts an age file for one passphrase, or passes a file that is not age through untouched. */
class OpeningStream extends Transform {
  readonly ready: Promise<'encrypted' | 'plain'>;
  private decide!: (mode: 'encrypted' | 'plain') => void;
  private refuse!: (error: Error) => void;
  private mode: 'sniff' | 'header' | 'payload' | 'plain' = 'sniff';
  private readonly queue = new ByteQueue();
  private payloadKey: Buffer | undefined;
  private counter = 0;

  constructor(private readonly fileKeyOf: (header: Buffer) => Promise<Buffer>) {
    super({ highWaterMark: 1024 * 1024 });
    this.ready = new Promise((resolve, reject) => {
      this.decide = resolve;
      this.refuse = reject;
    });
    this.ready.catch(() => {});
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.mode === 'plain') return done(null, chunk);
    this.queue.push(chunk);
    this.advance(false).then(() => done(), (error: Error) => this.fail(error, done));
  }

  override _flush(done: TransformCallback): void {
    this.advance(true).then(() => done(), (error: Error) => this.fail(error, done));
  }

  private fail(error: Error, done: TransformCallback): void {
    this.refuse(error);
    done(error);
  }

  private async advance(ended: boolean): Promise<void> {
    if (this.mode === 'sniff') {
      if (this.queue.length < AGE_VERSION_LINE.length && !ended) return;
      if (!looksLikeAge(this.queue.peekAll())) {
        this.mode = 'plain';
        this.decide('plain');
        this.push(this.queue.takeAll());
        return;
      }
      this.mode = 'header';
    }
    if (this.mode === 'header') {
      const seen = this.queue.peekAll();
      const macLine = seen.indexOf('\n--- ');
      const end = macLine < 0 ? -1 : seen.indexOf('\n', macLine + 1);
      if (end < 0 || seen.length < end + 1 + PAYLOAD_NONCE_BYTES) {
        if (seen.length > MAX_HEADER_BYTES) throw new AgeError('invalid age header: too long', 'damaged');
        if (ended) throw new AgeError('the age file ends inside its header: it is truncated', 'damaged');
        return;
      }
      const header = this.queue.take(end + 1);
      const nonce = this.queue.take(PAYLOAD_NONCE_BYTES);
      const fileKey = await this.fileKeyOf(Buffer.from(header));
      this.payloadKey = hkdf(fileKey, nonce, 'payload');
      this.mode = 'payload';
      this.decide('encrypted');
    }
    if (this.mode === 'payload') {
      while (this.queue.length > CHUNK_BYTES + TAG_BYTES) this.open(this.queue.take(CHUNK_BYTES + TAG_BYTES), false);
      if (ended) {
        const last = this.queue.takeAll();
        if (last.length < TAG_BYTES) throw new AgeError('the age file is truncated', 'damaged');
        if (last.length === TAG_BYTES && this.counter > 0) throw new AgeError('the age file ends with an empty chunk', 'damaged');
        this.open(last, true);
      }
      return;
    }
    if (this.mode === 'plain') this.push(this.queue.takeAll());
  }

  private open(sealed: Buffer, last: boolean): void {
    const decipher = createDecipheriv('chacha20-poly1305', this.payloadKey!, chunkNonce(this.counter, last), { authTagLength: TAG_BYTES });
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const plain = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
    try {
      decipher.final();
    } catch {
      throw new AgeError(`the age file is damaged or truncated (chunk ${this.counter} does not authenticate)`, 'damaged');
    }
    this.counter += 1;
    this.push(plain);
  }
}

/** Whether these first bytes of a file say it is an age file. */
export function looksLikeAge(head: Buffer): boolean {
  return head.length >= AGE_VERSION_LINE.length && head.subarray(0, AGE_VERSION_LINE.length).equals(AGE_VERSION_LINE);
}
