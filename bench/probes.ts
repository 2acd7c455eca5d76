// One full probe cycle (every alert of the catalog judged) against a healthy sandbox DMS, beside the checks an
// operator would script by hand on the same DMS in the same run: curl of the health and metrics endpoints,
// `sqlite3 DB 'PRAGMA quick_check'` and `df` of the uploads folder, one after the other as a shell script runs
// them. Target of the alerting issue: a cycle ≤ 2 s. Knobs: BENCH_ROUNDS (15).
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { probeScheduleDeps } from '../src/alerts/probe-schedule.ts';
import { runProbeCycle } from '../src/alerts/probes.ts';
import type { DispatchDeps } from '../src/commands/dispatch.ts';
import { composeDeps } from '../src/compose.ts';
import { loadConfig } from '../src/config/load.ts';
import { createLogger } from '../src/observability/logger.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { tempSandbox } from '../test/helpers/sandbox.ts';

const run = promisify(execFile);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const TARGET_MS = 2_000;

/** Median of a few timings. */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

let sandbox: Sandbox | undefined;
let deps: DispatchDeps | undefined;
const stateDir = await mkdtemp(path.join(tmpdir(), 'dr-bench-probes-'));
try {
  sandbox = await tempSandbox();
  await sandbox.startServer();
  const config = loadConfig({ DR_CONFIG: sandbox.configPath, DR_STATE: path.join(stateDir, 'state.db'), LOG_LEVEL: 'warn' });
  deps = await composeDeps(config, createLogger('warn'));
  // Healthy means a fresh verified backup too: the catalog half of the cycle then reads a real entry.
  await deps.backupDatabase();
  const probes = probeScheduleDeps(deps).probes;
  const dbPath = sandbox.databaseUrl.slice('sqlite:'.length);
  const { healthUrl, metricsUrl, uploadsDir } = sandbox;

  const ours = async () => {
    const started = performance.now();
    const signals = await runProbeCycle(probes);
    const ms = performance.now() - started;
    const firing = signals.filter((s) => s.status === 'firing').map((s) => s.alert);
    if (firing.length > 0) throw new Error(`the sandbox is not healthy: ${firing.join(', ')} firing`);
    return { ms, judged: new Set(signals.map((s) => s.alert)).size };
  };
  const reference = async () => {
    const started = performance.now();
    await run('curl', ['-sf', '-o', '/dev/null', healthUrl]);
    await run('curl', ['-sf', '-o', '/dev/null', metricsUrl]);
    const { stdout } = await run('sqlite3', [dbPath, 'PRAGMA quick_check']);
    if (stdout.trim() !== 'ok') throw new Error(`quick_check: ${stdout.trim()}`);
    await run('df', ['-P', uploadsDir]);
    return performance.now() - started;
  };

  // Warm-up: worker thread, connections, page cache; the first cycle also takes the baseline scrape.
  await ours();
  await reference();
  const oursMs: number[] = [];
  const refMs: number[] = [];
  let judged = 0;
  for (let round = 0; round < ROUNDS; round += 1) {
    const cycle = await ours();
    oursMs.push(cycle.ms);
    judged = cycle.judged;
    refMs.push(await reference());
  }
  const cycleMs = median(oursMs);
  const ratio = cycleMs / median(refMs);
  console.log(`${ROUNDS} rounds, healthy ${sandbox.kind} sandbox, ${judged} of 8 catalog alerts judged per cycle`);
  console.log(
    `probe cycle ${cycleMs.toFixed(1)} ms (max ${Math.max(...oursMs).toFixed(1)})   ` +
      `curl ×2 + sqlite3 quick_check + df ${median(refMs).toFixed(1)} ms   ratio ${ratio.toFixed(2)}   ` +
      `target cycle ≤ ${TARGET_MS} ms   ${Math.max(...oursMs) <= TARGET_MS ? 'PASS' : 'FAIL'}`,
  );
} finally {
  await deps?.store.close();
  await sandbox?.destroy();
  await rm(stateDir, { recursive: true, force: true });
}
