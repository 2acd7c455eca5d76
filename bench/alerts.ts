// Alert benchmark: the bot as its own process (as in production), the Slack and PagerDuty fakes in this one.
//
//   1. A 1,000-alert Alertmanager batch (half critical), beside a bare HTTP receiver that only reads and parses the
//      same body: accepted (2xx, alert state and every notification persisted) in ≤ 1 s, and every critical
//      delivered to the PagerDuty fake in ≤ 2 s (the batch is one Alertmanager group: one incident listing them).
//      The Slack side: at most 1 post per second per channel, every alert shown once (own message or digest).
//   2. A storm: one webhook of 3,000 critical alerts, then a new critical via POST /alerts right behind it: the
//      time from that POST to its page on the PagerDuty fake (≤ 5 s), and the storm as ≤ 1 incident per group.
//   3. Peak RSS of the bot process (VmHWM) during a 10,000-alert webhook and its delivery: < 250 MB.
//
// Run with `npm run bench:alerts`. Knobs (env): BENCH_ALERTS (1000), BENCH_ROUNDS (3), BENCH_STORM (3000),
// BENCH_HUGE (10000).
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openStateStore } from '../src/adapters/state/kysely-store.ts';
import { groupDedupKey } from '../src/domain/alert.ts';
import type { StateStore } from '../src/ports/state-store.ts';
import { startPagerDutyFake, type PagerDutyFakeEvent } from '../test/fakes/pagerduty-fake.ts';
import { startSlackFake } from '../test/fakes/slack-api.ts';
import { postAlerts, shownInChannel, stormGroupKey, stormWebhook } from '../test/helpers/alert-storm.ts';
import { startBotProcess } from '../test/helpers/bot-process.ts';
import { TEST_ROUTING_KEY } from '../test/helpers/bot.ts';

const ALERTS = intEnv('BENCH_ALERTS', 1_000);
const ROUNDS = intEnv('BENCH_ROUNDS', 3);
const STORM = intEnv('BENCH_STORM', 3_000);
const HUGE = intEnv('BENCH_HUGE', 10_000);
const TOKEN = 'bench-alert-token';
const ACCEPT_LIMIT_MS = 1_000;
const PAGED_LIMIT_MS = 2_000;
const NEW_PAGE_LIMIT_MS = 5_000;
const POSTS_PER_SECOND_LIMIT = 1;
const RSS_LIMIT_MB = 250;

function intEnv(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}
const log = (line: string): void => void process.stdout.write(`${line}\n`);
const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An Alertmanager webhook (version 4) carrying `count` firing alerts, half critical and half warnings, one group. */
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
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** VmRSS and VmHWM (peak) of a process, in MB, from /proc. */
async function memoryOf(pid: number): Promise<{ rssMb: number; peakMb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

async function drained(store: StateStore, limitMs = 180_000): Promise<boolean> {
  const started = Date.now();
  while (Date.now() - started < limitMs) {
    if ((await store.listOutbox({ status: 'pending', limit: 1 })).length === 0) return true;
    await sleep(250);
  }
  return false;
}

const isTrigger = (e: PagerDutyFakeEvent) => e.status === 202 && e.body.event_action === 'trigger';
const groupOf = (e: PagerDutyFakeEvent) => (e.body.payload as { custom_details?: { group?: string } }).custom_details?.group;

async function main(): Promise<number> {
  const dir = await mkdtemp(path.join(tmpdir(), 'dr-bench-alerts-'));
  const slack = await startSlackFake();
  const pagerduty = await startPagerDutyFake();
  const reference = await bareReceiver();
  const bot = await startBotProcess({ SLACK_API_URL: slack.apiUrl, DR_STATE: path.join(dir, 'state.db'), DR_ALERT_TOKEN: TOKEN, PAGERDUTY_ROUTING_KEY: TEST_ROUTING_KEY, ...pagerduty.env }, dir);
  const store = await openStateStore(path.join(dir, 'state.db'));
  const pid = bot.child.pid!;
  const verdicts: Array<{ name: string; ok: boolean; figure: string }> = [];
  try {
    const idle = await memoryOf(pid);
    log(`bot process ${pid}: RSS ${idle.rssMb.toFixed(0)} MB after start-up (peak so far ${idle.peakMb.toFixed(0)} MB)`);

    // 1. The 1,000-alert batch.
    log(`\n━━ ${ALERTS}-alert Alertmanager batch: the bot vs a bare receiver that only parses it ━━`);
    const ours: number[] = [];
    const bare: number[] = [];
    const paged: number[] = [];
    let routedOk = true;
    for (let round = 1; round <= ROUNDS; round += 1) {
      const body = webhookBody(round, ALERTS);
      const mine = await postAlerts(bot.url, TOKEN, '/alerts/alertmanager', body);
      if (mine.status !== 202) throw new Error(`the bot answered ${mine.status}`);
      const sentAt = mine.at - mine.ms;
      const theirs = await postAlerts(reference.url, TOKEN, '/alerts/alertmanager', body);
      const page = await pagerduty.waitFor((e) => isTrigger(e) && groupOf(e) === `{}:{round="${round}"}`, 30_000);
      const listed = Number((page.body.payload as { custom_details: { num_firing: number } }).custom_details.num_firing);
      // 202 means committed: count what is persisted right after the answer.
      const alerts = (await store.listAlerts({ limit: 100_000 })).filter((a) => a.alert.startsWith(`bench_${round}_`)).length;
      routedOk &&= alerts === ALERTS && listed === ALERTS / 2;
      ours.push(mine.ms);
      bare.push(theirs.ms);
      paged.push(page.at - sentAt);
      log(`  round ${round}: bot ${mine.ms.toFixed(0)} ms (202; ${alerts} alerts persisted), bare receiver ${theirs.ms.toFixed(0)} ms; paged after ${(page.at - sentAt).toFixed(0)} ms (one incident, ${listed} criticals)`);
    }
    await drained(store);
    const posts = slack.calls.filter((c) => c.method === 'chat.postMessage' && !c.failed);
    const perChannel = new Map<string, number[]>();
    for (const call of posts) perChannel.set(String(call.body.channel), [...(perChannel.get(String(call.body.channel)) ?? []), call.at]);
    let worstPerSecond = 0;
    for (const times of perChannel.values()) {
      times.sort((a, b) => a - b);
      for (let i = 0; i < times.length; i += 1) worstPerSecond = Math.max(worstPerSecond, times.filter((at) => at >= times[i]! && at < times[i]! + 1_000).length);
    }
    const benchAlerts = (await store.listAlerts({ limit: 100_000 })).filter((a) => a.alert.startsWith('bench_'));
    const shown = new Map<string, number>();
    for (const channel of perChannel.keys()) for (const [fp, n] of (await shownInChannel(slack, store, channel)).shown) shown.set(fp, (shown.get(fp) ?? 0) + n);
    const dropped = benchAlerts.filter((a) => shown.get(a.fingerprint) !== 1).length + (ALERTS * ROUNDS - benchAlerts.length);
    log(`  accepted: median ${median(ours).toFixed(0)} ms (bare receiver ${median(bare).toFixed(0)} ms); paged: median ${median(paged).toFixed(0)} ms`);
    log(`  Slack: ${posts.length} posts for ${ALERTS * ROUNDS} alerts in ${perChannel.size} channels; at most ${worstPerSecond} post(s) in any second of one channel; ${dropped} alert(s) not shown exactly once`);
    verdicts.push(
      { name: `${ALERTS}-alert batch accepted (2xx, state + outbox persisted)`, ok: routedOk && Math.max(...ours) <= ACCEPT_LIMIT_MS, figure: `${Math.max(...ours).toFixed(0)} ms worst (≤ ${ACCEPT_LIMIT_MS} ms)` },
      { name: `every critical of the batch delivered to the PagerDuty fake`, ok: routedOk && Math.max(...paged) <= PAGED_LIMIT_MS, figure: `${Math.max(...paged).toFixed(0)} ms worst (≤ ${PAGED_LIMIT_MS} ms)` },
      { name: 'Slack pace per channel', ok: worstPerSecond <= POSTS_PER_SECOND_LIMIT, figure: `${worstPerSecond} post(s)/s (≤ ${POSTS_PER_SECOND_LIMIT})` },
      { name: 'nothing dropped or doubled in Slack', ok: dropped === 0, figure: `${dropped} wrong` },
    );

    // 2. The storm, and a new critical right behind it.
    log(`\n━━ a ${STORM}-alert storm in one webhook, then a new critical ━━`);
    const stormAccepted = await postAlerts(bot.url, TOKEN, '/alerts/alertmanager', stormWebhook('storm', STORM));
    const fresh = await postAlerts(bot.url, TOKEN, '/alerts', JSON.stringify({ alert: 'db_connection_failure', severity: 'critical', status: 'firing', summary: 'new critical behind the storm' }));
    const page = await pagerduty.waitFor((e) => isTrigger(e) && (e.body.payload as { class?: string }).class === 'db_connection_failure', 120_000);
    const toPage = page.at - (fresh.at - fresh.ms);
    await drained(store);
    const stormKeys = new Set(pagerduty.events.filter((e) => isTrigger(e) && groupOf(e) === stormGroupKey('storm')).map((e) => e.body.dedup_key));
    const stormShown = await shownInChannel(slack, store, '#dr-critical');
    log(`  storm accepted in ${stormAccepted.ms.toFixed(0)} ms (${stormAccepted.status}); new critical accepted in ${fresh.ms.toFixed(0)} ms and paged ${toPage.toFixed(0)} ms after it was sent`);
    log(`  storm: ${stormKeys.size} PagerDuty incident(s); ${stormShown.digests} digest(s) in #dr-critical so far`);
    verdicts.push(
      { name: `new critical paged behind a ${STORM}-alert storm`, ok: toPage <= NEW_PAGE_LIMIT_MS, figure: `${toPage.toFixed(0)} ms (≤ ${NEW_PAGE_LIMIT_MS} ms)` },
      { name: 'storm as ≤ 1 PagerDuty incident per group', ok: stormKeys.size === 1 && stormKeys.has(groupDedupKey(stormGroupKey('storm'))), figure: `${stormKeys.size} incident(s)` },
    );

    // 3. Peak memory of the bot through a 10,000-alert webhook and its delivery.
    log(`\n━━ peak RSS of the bot through a ${HUGE}-alert webhook ━━`);
    // Linux resets the peak (VmHWM) to the current RSS on "5" in clear_refs: the peak is then this webhook's.
    const reset = await writeFile(`/proc/${pid}/clear_refs`, '5').then(
      () => true,
      () => false,
    );
    const before = await memoryOf(pid);
    const body = stormWebhook('huge', HUGE);
    const huge = await postAlerts(bot.url, TOKEN, '/alerts/alertmanager', body);
    await drained(store);
    const after = await memoryOf(pid);
    log(`  body ${(Buffer.byteLength(body) / 1e6).toFixed(1)} MB, answered ${huge.status} in ${huge.ms.toFixed(0)} ms; RSS ${before.rssMb.toFixed(0)} → ${after.rssMb.toFixed(0)} MB, peak ${after.peakMb.toFixed(0)} MB${reset ? ' (peak reset before the webhook)' : ' (peak since start-up: clear_refs not writable)'}`);
    verdicts.push({ name: `peak RSS of the bot through a ${HUGE}-alert webhook`, ok: huge.status === 202 && after.peakMb < RSS_LIMIT_MB, figure: `${after.peakMb.toFixed(0)} MB (< ${RSS_LIMIT_MB} MB)` });

    log('\n━━ verdicts ━━');
    for (const v of verdicts) log(`  ${v.ok ? '✅' : '❌'} ${v.name}: ${v.figure}`);
    return verdicts.every((v) => v.ok) ? 0 : 1;
  } finally {
    await store.close();
    await bot.stop();
    await reference.close();
    await pagerduty.close();
    await slack.close();
    await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
