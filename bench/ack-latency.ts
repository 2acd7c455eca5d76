// Ack-latency benchmark: how long Slack waits for dr-bot's HTTP answer to `/dr status` under a burst of
// 50 concurrent commands, next to a bare Bolt app that only acks, served the same way in the same process.
// Run with `npm run bench`. Knobs (env): BENCH_REQUESTS (200), BENCH_CONCURRENCY (50), BENCH_ROUNDS (2),
// BENCH_WARMUP (20), BENCH_LOG_LEVEL (warn).
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { App, HTTPReceiver, LogLevel } from '@slack/bolt';
import { startBot, type RunningBot } from '../src/bot.ts';
import { loadConfig } from '../src/config/load.ts';
import { createLogger } from '../src/observability/logger.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { startSlackFakeProcess, type RemoteSlackFake as SlackFake } from '../test/fakes/slack-api-process.ts';
import { tempSandbox } from '../test/helpers/sandbox.ts';
import { sendSlashCommand } from '../test/helpers/slack-requests.ts';

const SIGNING_SECRET = 'bench-signing-secret-0123456789abcdef';
const REQUESTS = intEnv('BENCH_REQUESTS', 200);
const CONCURRENCY = intEnv('BENCH_CONCURRENCY', 50);
const ROUNDS = intEnv('BENCH_ROUNDS', 2);
const WARMUP = intEnv('BENCH_WARMUP', 20);
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'warn';
// Verdict limits: acks must stay fast in absolute terms and close to what a bare Bolt app manages here.
const P99_LIMIT_MS = 100;
const P99_RATIO_LIMIT = 1.5;
// How long the bot's background status runs may take to drain after a round before we give up waiting.
const DRAIN_TIMEOUT_MS = 60_000;

/** One measured request: time to full HTTP response and the status (0 = transport error). */
interface Sample {
  ms: number;
  status: number;
}

/** A system under test: where to send `/dr status` and a hook to wait for its after-ack work. */
interface Target {
  name: 'bare' | 'dr-bot';
  url: string;
  /** Resolves once the background work started by the last `sent` commands has finished. */
  drain(sent: number): Promise<number>;
  /** Running totals of server-side ack time (request event → response finished), in seconds. */
  handlerTotals(): Promise<{ sum: number; count: number }>;
}

/** Results of one round against one target, plus what the event loop looked like meanwhile. */
interface RoundResult {
  target: Target['name'];
  round: number;
  samples: Sample[];
  wallMs: number;
  loopP99Ms: number;
  loopMaxMs: number;
  /** Mean server-side ack time; the rest of the client-seen latency is queueing before the request event. */
  handlerMeanMs: number;
  /** CPU time of the whole process (all threads, incl. probe workers) during the burst, per request. */
  cpuPerReqMs: number;
  drainMs: number;
}

// Reads a positive integer knob from the environment, so CI or a curious reader can scale the run.
function intEnv(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

// Nearest-rank percentile (no interpolation), so p99 of 200 samples is an actual observed request.
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? Number.NaN;
}

// Sends `total` signed `/dr status` commands through a pool of `concurrency` workers pulling from one
// queue, so exactly `concurrency` requests are in flight until the queue empties (no batch barriers).
async function burst(url: string, responseUrl: string, total: number, concurrency: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      next += 1;
      const started = performance.now();
      try {
        const r = await sendSlashCommand(url, SIGNING_SECRET, { text: 'status', response_url: responseUrl });
        samples.push({ ms: r.ms, status: r.status });
      } catch {
        samples.push({ ms: performance.now() - started, status: 0 });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return samples;
}

// Runs one measured burst against a target while sampling event-loop delay, then waits for its after-ack work.
async function measureRound(target: Target, responseUrl: string, round: number): Promise<RoundResult> {
  const before = await target.handlerTotals();
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const samples = await burst(target.url, responseUrl, REQUESTS, CONCURRENCY);
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  loop.disable();
  const after = await target.handlerTotals();
  const drainMs = await target.drain(REQUESTS);
  return {
    target: target.name,
    round,
    samples,
    wallMs,
    loopP99Ms: loop.percentile(99) / 1e6,
    loopMaxMs: loop.max / 1e6,
    handlerMeanMs: ((after.sum - before.sum) / Math.max(1, after.count - before.count)) * 1000,
    cpuPerReqMs: (used.user + used.system) / 1000 / samples.length,
    drainMs,
  };
}

// The reference: a Bolt app whose `/dr` handler only acks, mounted on node:http exactly like dr-bot's receiver
// (including the same request-event → finish timing hook that feeds dr-bot's ack histogram).
async function startBareApp(fake: SlackFake): Promise<{ url: string; handlerTotals(): Promise<{ sum: number; count: number }>; close(): Promise<void> }> {
  const receiver = new HTTPReceiver({ signingSecret: SIGNING_SECRET, endpoints: '/slack/events', processBeforeResponse: false });
  const app = new App({
    receiver,
    authorize: async () => ({ botToken: 'xoxb-x' }),
    clientOptions: { slackApiUrl: fake.apiUrl },
    logLevel: LogLevel.ERROR,
  });
  app.command('/dr', async ({ ack }) => {
    await ack();
  });
  const totals = { sum: 0, count: 0 };
  const server: Server = createServer((req, res) => {
    const started = performance.now();
    res.once('finish', () => {
      totals.sum += (performance.now() - started) / 1000;
      totals.count += 1;
    });
    receiver.requestListener(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    handlerTotals: async () => ({ ...totals }),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

// Waits until the bot has finished `expected` status runs (its dr_command_total counter) and its posts to
// Slack have stopped arriving: concurrent runs share one report and one post per channel, so posts alone
// cannot be counted.
async function waitForRuns(bot: RunningBot, fake: SlackFake, expected: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const finished = async () => (await bot.deps.metrics.commandTotal.get()).values.filter((v) => v.labels.command === 'status').reduce((a, v) => a + v.value, 0);
  while ((await finished()) < expected) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  let seen = -1;
  for (let posts = (await fake.callsTo('chat.postMessage')).length; posts !== seen; posts = (await fake.callsTo('chat.postMessage')).length) {
    seen = posts;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return true;
}

// Tallies the probes that the posted status messages reported as failing (❌), e.g. deadlines missed under load:
// fast acks are worthless if the answer they promise is wrong.
async function probeFailures(fake: SlackFake): Promise<{ posts: number; failing: Map<string, number>; reasons: Map<string, number> }> {
  const failing = new Map<string, number>();
  const reasons = new Map<string, number>();
  const posts = (await fake.callsTo('chat.postMessage')).filter((c) => !c.failed);
  for (const call of posts) {
    const blocks = Array.isArray(call.body.blocks) ? (call.body.blocks as Array<{ block_id?: unknown; text?: { text?: unknown } }>) : [];
    for (const block of blocks) {
      const id = typeof block.block_id === 'string' ? block.block_id : '';
      const text = typeof block.text?.text === 'string' ? block.text.text : '';
      if (!id.startsWith('status_probe_') || !text.startsWith('❌')) continue;
      const probe = id.slice('status_probe_'.length);
      failing.set(probe, (failing.get(probe) ?? 0) + 1);
      const reason = `${probe}: ${(/— (.*?) _\(/.exec(text)?.[1] ?? text).slice(0, 80)}`;
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
  }
  return { posts: posts.length, failing, reasons };
}

// Formats a number of milliseconds for the table.
function fmt(ms: number): string {
  return Number.isFinite(ms) ? ms.toFixed(1) : '—';
}

// Latency figures of a set of samples, the row format of the printed table.
function summarize(samples: readonly Sample[]): { n: number; p50: number; p99: number; max: number; errors: number } {
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
  return {
    n: samples.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    errors: samples.filter((s) => s.status !== 200).length,
  };
}

// Prints per-round rows (with event-loop delay and drain time) and the combined rows the verdict uses.
function report(results: readonly RoundResult[]): { errors: number } {
  const rows: string[][] = [['target', 'round', 'n', 'p50', 'p99', 'max', 'errors', 'wall', 'in-handler', 'loop p99', 'loop max', 'cpu/req', 'drain']];
  for (const r of results) {
    const s = summarize(r.samples);
    rows.push([r.target, String(r.round), String(s.n), fmt(s.p50), fmt(s.p99), fmt(s.max), String(s.errors), fmt(r.wallMs), fmt(r.handlerMeanMs), fmt(r.loopP99Ms), fmt(r.loopMaxMs), fmt(r.cpuPerReqMs), fmt(r.drainMs)]);
  }
  const combined = new Map<Target['name'], ReturnType<typeof summarize>>();
  for (const name of ['bare', 'dr-bot'] as const) {
    const s = summarize(results.filter((r) => r.target === name).flatMap((r) => r.samples));
    combined.set(name, s);
    rows.push([name, 'all', String(s.n), fmt(s.p50), fmt(s.p99), fmt(s.max), String(s.errors), '', '', '', '', '', '']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  console.log(`\nack latency (ms, time to full HTTP response), ${REQUESTS} × /dr status per round, ${CONCURRENCY} in flight, ${ROUNDS} rounds, interleaved`);
  console.log('in-handler = mean server-side time from the request event to the response (the rest is queueing before it);');
  console.log('loop = main event-loop delay during the burst; cpu/req = process CPU (all threads) during the burst / n;');
  console.log('drain = time after the last ack until every status run had posted; "all" rows = both rounds combined (the verdict uses them)\n');
  for (const row of rows) console.log(row.map((cell, i) => cell.padStart(widths[i]!)).join('  '));

  const bare = combined.get('bare')!;
  const bot = combined.get('dr-bot')!;
  const ratioP50 = bot.p50 / bare.p50;
  const ratioP99 = bot.p99 / bare.p99;
  const pass = bot.p99 <= P99_LIMIT_MS && ratioP99 <= P99_RATIO_LIMIT;
  console.log(`\ndr-bot / bare (combined rounds): p50 ×${ratioP50.toFixed(2)}, p99 ×${ratioP99.toFixed(2)}`);
  console.log(`${pass ? 'PASS' : 'FAIL'}: dr-bot p99 ${fmt(bot.p99)} ms (limit ${P99_LIMIT_MS}), p99 ratio ${ratioP99.toFixed(2)} (limit ${P99_RATIO_LIMIT})`);
  const errors = bare.errors + bot.errors;
  console.log(errors === 0 ? 'every request got HTTP 200' : `ERRORS: ${errors} request(s) did not get HTTP 200`);
  return { errors };
}

// Sets everything up, runs warm-up and interleaved rounds, prints the table and cleans up so the process exits.
async function main(): Promise<number> {
  let sandbox: Sandbox | undefined;
  let fake: SlackFake | undefined;
  let bot: RunningBot | undefined;
  let bare: Awaited<ReturnType<typeof startBareApp>> | undefined;
  let stateDir: string | undefined;
  try {
    sandbox = await tempSandbox();
    await sandbox.startServer();
    fake = await startSlackFakeProcess();
    stateDir = await mkdtemp(path.join(tmpdir(), 'dr-bench-state-'));
    const config = loadConfig({
      SLACK_BOT_TOKEN: 'xoxb-bench-token',
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: fake.apiUrl,
      DR_STATE: path.join(stateDir, 'state.db'),
      DR_CONFIG: sandbox.configPath,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL,
    });
    bot = await startBot(config, createLogger(LOG_LEVEL), { slackRetries: 0, schedules: false });
    const identified = Date.now() + 5_000;
    while ((await fake.callsTo('auth.test')).length === 0 && Date.now() < identified) await new Promise((resolve) => setTimeout(resolve, 20));
    bare = await startBareApp(fake);

    const slack = fake;
    const running = bot;
    const responseUrl = slack.responseUrl('bench');
    // Status runs finished so far (warm-up included): the drain waits for the counter to reach it.
    let posted = 0;
    const botTarget: Target = {
      name: 'dr-bot',
      url: bot.url,
      async drain(sent) {
        const started = performance.now();
        posted += sent;
        if (!(await waitForRuns(running, slack, posted, DRAIN_TIMEOUT_MS))) {
          console.warn(`warning: not all ${posted} status runs finished within ${DRAIN_TIMEOUT_MS} ms`);
        }
        return performance.now() - started;
      },
      // dr-bot's own dr_ack_latency_seconds histogram, fed by the same hook as the bare app's totals.
      async handlerTotals() {
        const values = (await running.deps.metrics.ackSeconds.get()).values;
        const pick = (name: string) => values.filter((v) => v.metricName === name && v.labels.surface === 'slack').reduce((a, v) => a + v.value, 0);
        return { sum: pick('dr_ack_latency_seconds_sum'), count: pick('dr_ack_latency_seconds_count') };
      },
    };
    const bareTarget: Target = { name: 'bare', url: bare.url, drain: async () => 0, handlerTotals: bare.handlerTotals };

    for (const target of [bareTarget, botTarget]) {
      const warm = await burst(target.url, responseUrl, WARMUP, Math.min(CONCURRENCY, WARMUP));
      await target.drain(WARMUP);
      const failed = warm.filter((s) => s.status !== 200).length;
      if (failed > 0) console.warn(`warning: ${failed}/${WARMUP} warm-up requests to ${target.name} did not get HTTP 200`);
    }

    const results: RoundResult[] = [];
    for (let round = 1; round <= ROUNDS; round += 1) {
      for (const target of [bareTarget, botTarget]) results.push(await measureRound(target, responseUrl, round));
    }
    const { errors } = report(results);
    const verdicts = await probeFailures(slack);
    const failed = [...verdicts.failing].map(([probe, n]) => `${probe} ${n}`).join(', ');
    console.log(`status posts: ${verdicts.posts} (warm-up included); probes reported ❌: ${failed || 'none'}`);
    for (const [reason, n] of [...verdicts.reasons].sort((a, b) => b[1] - a[1]).slice(0, 5)) console.log(`  ${n} × ${reason}`);
    return errors > 0 ? 1 : 0;
  } finally {
    await bare?.close().catch((e: unknown) => console.error('bare app close failed', e));
    await bot?.stop().catch((e: unknown) => console.error('bot stop failed', e));
    await fake?.close().catch((e: unknown) => console.error('fake close failed', e));
    await sandbox?.destroy().catch((e: unknown) => console.error('sandbox destroy failed', e));
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  }
}

process.exitCode = await main().catch((error: unknown) => {
  console.error('bench failed:', error);
  return 1;
});
