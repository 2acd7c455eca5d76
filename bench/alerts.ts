// Alert-burst benchmark: a 1,000-alert Alertmanager batch sent to the running bot, beside a bare HTTP
// receiver that only reads and parses the same body, in the same run.
//
//   1. Accepted (2xx) in ≤ 1 s, and fully routed — alert state and every outbox notification persisted — in ≤ 2 s
//      (the bot answers 202 only after both are committed, so the two figures are the same request).
//   2. The Slack side of the burst: at most 1 post per second per channel, nothing dropped (every alert shown
//      once, in its own message or in a digest).
//
// Run with `node --import tsx bench/alerts.ts`. Knobs (env): BENCH_ALERTS (1000), BENCH_ROUNDS (3).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestBot } from '../test/helpers/bot.ts';

const ALERTS = intEnv('BENCH_ALERTS', 1_000);
const ROUNDS = intEnv('BENCH_ROUNDS', 3);
const TOKEN = 'bench-alert-token';
const ACCEPT_LIMIT_MS = 1_000;
const ROUTED_LIMIT_MS = 2_000;
const POSTS_PER_SECOND_LIMIT = 1;

function intEnv(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}
const log = (line: string): void => void process.stdout.write(`${line}\n`);
const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** An Alertmanager webhook (version 4) carrying `count` firing alerts, half critical and half warnings. */
function webhookBody(round: number, count: number): string {
  const alerts = Array.from({ length: count }, (_, i) => ({
    status: 'firing',
    labels: { alertname: `bench_${round}_${i}`, severity: i % 2 === 0 ? 'critical' : 'warning', instance: `host-${i % 20}` },
    annotations: { summary: `benchmark alert ${i} of round ${round}` },
    startsAt: new Date().toISOString(),
    endsAt: '0001-01-01T00:00:00Z',
    generatorURL: 'http://prometheus.example/graph',
    fingerprint: `${round.toString(16).padStart(4, '0')}${i.toString(16).padStart(12, '0')}`,
  }));
  return JSON.stringify({ version: '4', groupKey: `{}:{round="${round}"}`, truncatedAlerts: 0, status: 'firing', receiver: 'dr-bot', groupLabels: {}, commonLabels: {}, commonAnnotations: {}, externalURL: 'http://alertmanager.example', alerts });
}

async function post(url: string, body: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const response = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` } });
  await response.arrayBuffer();
  return { status: response.status, ms: performance.now() - started };
}

/** The reference: a receiver that reads the body, parses it and answers 202 — the least any webhook must do. */
async function bareReceiver(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { alerts: unknown[] };
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ accepted: parsed.alerts.length }));
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function main(): Promise<number> {
  const t = await startTestBot({ env: { DR_ALERT_TOKEN: TOKEN } });
  const reference = await bareReceiver();
  const ours: number[] = [];
  const bare: number[] = [];
  let routedOk = true;
  try {
    log(`━━ ${ALERTS}-alert Alertmanager batch: the bot vs a bare receiver that only parses it ━━`);
    for (let round = 1; round <= ROUNDS; round += 1) {
      const body = webhookBody(round, ALERTS);
      const mine = await post(`${t.bot.url}/alerts/alertmanager`, body);
      if (mine.status !== 202) throw new Error(`the bot answered ${mine.status}`);
      const theirs = await post(reference.url, body);
      // 202 means committed: count what is persisted right after the answer.
      const alerts = (await t.bot.deps.store.listAlerts({ limit: 100_000 })).filter((a) => a.alert.startsWith(`bench_${round}_`)).length;
      const queued = (await t.bot.deps.store.listOutbox({})).filter((m) => 'fingerprint' in m.payload && m.payload.fingerprint.startsWith(round.toString(16).padStart(4, '0'))).length;
      routedOk &&= alerts === ALERTS && queued >= ALERTS;
      ours.push(mine.ms);
      bare.push(theirs.ms);
      log(`  round ${round}: bot ${mine.ms.toFixed(0)} ms (202; ${alerts} alerts and ${queued} notifications persisted), bare receiver ${theirs.ms.toFixed(0)} ms`);
    }
    // Let the outbox deliver everything, then read the Slack side off the fake.
    const started = Date.now();
    while ((await t.bot.deps.store.listOutbox({ status: 'pending' })).length > 0 && Date.now() - started < 120_000) await new Promise((resolve) => setTimeout(resolve, 250));
    const posts = t.slack.calls.filter((c) => c.method === 'chat.postMessage' && !c.failed);
    const perChannel = new Map<string, number[]>();
    for (const call of posts) perChannel.set(String(call.body.channel), [...(perChannel.get(String(call.body.channel)) ?? []), call.at]);
    let worstPerSecond = 0;
    for (const times of perChannel.values()) {
      times.sort((a, b) => a - b);
      for (let i = 0; i < times.length; i += 1) worstPerSecond = Math.max(worstPerSecond, times.filter((at) => at >= times[i]! && at < times[i]! + 1_000).length);
    }
    const shown = new Set<string>();
    for (const call of posts) {
      const digest = await t.bot.deps.store.getDigest(String(call.body.channel), (call.response as { ts: string }).ts);
      if (digest) for (const fp of digest) shown.add(`${String(call.body.channel)} ${fp}`);
      else {
        const [alert] = (await t.bot.deps.store.listAlerts({ limit: 100_000 })).filter((a) => String(call.body.text).includes(`${a.alert} (`));
        if (alert) shown.add(`${String(call.body.channel)} ${alert.fingerprint}`);
      }
    }
    const expected = ALERTS * ROUNDS;
    const dropped = expected - shown.size;
    const acceptMs = median(ours);
    const ratio = acceptMs / median(bare);
    log('');
    log(`  accepted and routed: median ${acceptMs.toFixed(0)} ms (bare receiver ${median(bare).toFixed(0)} ms, ratio ${ratio.toFixed(1)})`);
    log(`  Slack: ${posts.length} posts for ${expected} alerts in ${perChannel.size} channels; at most ${worstPerSecond} post(s) in any second of one channel; ${dropped} alert(s) not shown`);
    log('\n━━ verdicts ━━');
    const verdicts = [
      { name: `${ALERTS}-alert batch accepted (2xx)`, ok: Math.max(...ours) <= ACCEPT_LIMIT_MS, figure: `${Math.max(...ours).toFixed(0)} ms worst (≤ ${ACCEPT_LIMIT_MS} ms)` },
      { name: `${ALERTS}-alert batch fully routed (state + outbox persisted)`, ok: routedOk && Math.max(...ours) <= ROUTED_LIMIT_MS, figure: `${Math.max(...ours).toFixed(0)} ms worst (≤ ${ROUTED_LIMIT_MS} ms)` },
      { name: 'Slack pace per channel', ok: worstPerSecond <= POSTS_PER_SECOND_LIMIT, figure: `${worstPerSecond} post(s)/s (≤ ${POSTS_PER_SECOND_LIMIT})` },
      { name: 'nothing dropped', ok: dropped === 0, figure: `${dropped} missing` },
    ];
    for (const v of verdicts) log(`  ${v.ok ? '✅' : '❌'} ${v.name}: ${v.figure}`);
    return verdicts.every((v) => v.ok) ? 0 : 1;
  } finally {
    await reference.close();
    await t.close();
  }
}

process.exitCode = await main();
