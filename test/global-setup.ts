// The CLI and bot tests run the compiled output in dist/, as users do. Locally a stale build is rebuilt
// here; under CI=true it is an error, so a pipeline that forgets the build step (`npm ci` → `prepare`) fails.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');

function newestMtime(dir: string, keep: (name: string) => boolean): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !keep(entry.name)) continue;
    newest = Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** Whether dist/ exists and is at least as new as every source file. */
function buildIsFresh(): boolean {
  const dist = path.join(ROOT, 'dist');
  if (!existsSync(path.join(dist, 'cli/main.js'))) return false;
  return newestMtime(dist, (n) => n.endsWith('.js') || n.endsWith('.mjs')) >= newestMtime(path.join(ROOT, 'src'), (n) => /\.(ts|mjs)$/.test(n));
}

export default function setup(): void {
  if (buildIsFresh()) return;
  if (process.env.CI === 'true') {
    throw new Error('dist/ is missing or older than src/: the build step did not run (`npm ci` runs it through `prepare`; `npm run build` by hand)');
  }
  process.stderr.write('global setup: dist/ is stale, running `npm run build`\n');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
}
