// Derives one scrypt key in a process of its own. age's passphrase recipient uses scrypt with a work factor of
// 2^18, which needs 256 MiB: run here, that memory is the child's and is gone when it exits, instead of
// raising the bot's own peak memory for the rest of its life. Input (stdin, JSON): passphrase, salt (base64),
// logN. Output (stdout): the 32-byte key in hex. Plain JS: no TypeScript loader needed.
import { scrypt } from 'node:crypto';

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', () => {
  const { passphrase, salt, logN } = JSON.parse(input);
  const N = 2 ** logN;
  scrypt(passphrase, Buffer.from(salt, 'base64'), 32, { N, r: 8, p: 1, maxmem: 128 * 8 * N + 64 * 1024 * 1024 }, (error, key) => {
    if (error) {
      process.stderr.write(String(error.message));
      process.exit(1);
    }
    process.stdout.write(key.toString('hex'));
  });
});
