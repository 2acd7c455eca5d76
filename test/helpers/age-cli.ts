import { spawn } from 'node:child_process';

/**
 * Runs Debian's `age` CLI with a passphrase typed at its prompt. age reads passphrases from the terminal only,
 * so it runs under `script` (util-linux), which gives it a pty; the passphrase is written each time a prompt
 * appears. File names reach the command through the environment, never spliced into the shell string.
 */
export function ageWithPassphrase(mode: 'decrypt' | 'encrypt', input: string, output: string, passphrase: string): Promise<{ code: number | null; output: string }> {
  const command = mode === 'decrypt' ? 'exec age --decrypt --output "$AGE_OUT" "$AGE_IN"' : 'exec age --passphrase --output "$AGE_OUT" "$AGE_IN"';
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['--quiet', '--return', '--command', command, '/dev/null'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SHELL: '/bin/sh', TERM: 'dumb', AGE_IN: input, AGE_OUT: output },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let seen = '';
    let answered = 0;
    const onOutput = (chunk: Buffer) => {
      seen += chunk.toString('utf8');
      for (const prompts = (seen.match(/passphrase[^:\n]*:/gi) ?? []).length; answered < prompts; answered += 1) child.stdin.write(`${passphrase}\n`);
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    child.once('error', reject);
    child.once('close', (code) => {
      child.stdin.destroy();
      resolve({ code, output: seen });
    });
  });
}
