// Health + Prometheus server of the sandbox DMS. Faults are re-read from faults.json on every request
// so another process (a test, the CLI) can flip them while the server runs.
import { createHash } from 'node:crypto';
import { readFile, statfs, stat } from 'node:fs/promises';
import dotenv from 'dotenv';
import http from 'node:http';
import Database from 'better-sqlite3';
import pg from 'pg';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { readFaults, readManifest, FAULT_NAMES } from './sandbox.ts';
import type { Faults, SandboxManifest } from './sandbox.ts';

/** Status of one health component, as reported under `components`. */
export interface ComponentHealth {
  status: 'healthy' | 'unhealthy';
  latency_ms: number;
  error?: string;
  [extra: string]: unknown;
}

/** Body of GET /api/v1/monitoring/health (mirrors Alphha DMS's monitoring endpoint). */
export interface HealthBody {
  status: 'healthy' | 'degraded' | 'unhealthy';
  version: 'sandbox';
  timestamp: string;
  components: { database: ComponentHealth; storage: ComponentHealth };
  /**
   * Fingerprints (first 8 hex of SHA-256, never the values) of the secrets the server loaded from the
   * sandbox's .env when it started: a restart after a rotation shows the new ones in use.
   */
  secrets?: Record<string, string>;
}

/** The secrets a DMS reads from its .env at start-up; the sandbox loads them the same way. */
export const SANDBOX_SECRET_KEYS = ['SECRET_KEY', 'ENCRYPTION_KEY'] as const;

/** Fingerprints of the sandbox secrets as the .env holds them now (a missing key or file is left out). */
export async function loadSecretFingerprints(envFile: string): Promise<Record<string, string>> {
  const values = await readFile(envFile, 'utf8').then((text) => dotenv.parse(text), () => ({} as Record<string, string>));
  const loaded: Record<string, string> = {};
  for (const key of SANDBOX_SECRET_KEYS) {
    const value = values[key];
    if (value !== undefined) loaded[key] = createHash('sha256').update(value).digest('hex').slice(0, 8);
  }
  return loaded;
}

const HEALTH_PATH = '/api/v1/monitoring/health';
const METRICS_PATH = '/api/v1/monitoring/prometheus';
const MAX_LATENCY_S = 30;
/** Synthetic requests recorded per scrape: big enough that error_rate percentages come out exact. */
export const REQUESTS_PER_SCRAPE = 200;

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function checkDatabase(m: SandboxManifest, faults: Required<Faults>): Promise<ComponentHealth> {
  const t0 = performance.now();
  const ms = () => Math.round((performance.now() - t0) * 10) / 10;
  if (faults.db_down) {
    return { status: 'unhealthy', latency_ms: 0, error: 'connection refused (sandbox fault db_down)' };
  }
  try {
    if (m.kind === 'sqlite') {
      // A fresh read-only connection per check: a restore that swaps the file in is seen at once.
      const db = new Database(m.dbPath ?? '', { readonly: true, fileMustExist: true, timeout: 2000 });
      try {
        const row = db.prepare('SELECT count(*) AS n FROM documents').get() as { n: number };
        // quick_check catches damage that the count alone may not touch.
        const check = db.pragma('quick_check(1)', { simple: true });
        if (check !== 'ok') throw new Error(`quick_check: ${String(check)}`);
        return { status: 'healthy', latency_ms: ms(), documents: row.n };
      } finally {
        db.close();
      }
    }
    const client = new pg.Client({ connectionString: m.databaseUrl, connectionTimeoutMillis: 3000, query_timeout: 3000 });
    client.on('error', () => undefined); // a backend terminated mid-check must not crash the server
    try {
      await client.connect();
      await client.query('SELECT 1');
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM documents');
      return { status: 'healthy', latency_ms: ms(), documents: rows[0]?.n ?? 0 };
    } finally {
      await client.end().catch(() => undefined);
    }
  } catch (err) {
    return { status: 'unhealthy', latency_ms: ms(), error: errorText(err) };
  }
}

async function checkStorage(m: SandboxManifest): Promise<ComponentHealth> {
  const t0 = performance.now();
  try {
    const st = await stat(m.uploadsDir);
    if (!st.isDirectory()) throw new Error(`${m.uploadsDir} is not a directory`);
    const fs = await statfs(m.uploadsDir);
    const total = fs.blocks * fs.bsize;
    const free = fs.bavail * fs.bsize;
    return {
      status: 'healthy',
      latency_ms: Math.round((performance.now() - t0) * 10) / 10,
      path: m.uploadsDir,
      used_pct: total > 0 ? Math.round(((total - free) / total) * 1000) / 10 : 0,
      free_bytes: free,
    };
  } catch (err) {
    return { status: 'unhealthy', latency_ms: Math.round((performance.now() - t0) * 10) / 10, error: errorText(err) };
  }
}

/** Computes the health body and HTTP status for the current faults and the real database. */
export async function health(m: SandboxManifest): Promise<{ code: number; body: HealthBody }> {
  const faults = await readFaults(m.faultsFile);
  if (faults.latency > 0) await sleep(Math.min(faults.latency, MAX_LATENCY_S) * 1000);
  const [database, storage] = await Promise.all([checkDatabase(m, faults), checkStorage(m)]);
  const down = database.status !== 'healthy' || storage.status !== 'healthy';
  // Degraded (still 200): the API is up but the simulated traffic is failing or slow.
  const status = down ? 'unhealthy' : faults.error_rate > 0 || faults.latency > 0 ? 'degraded' : 'healthy';
  return {
    code: down ? 503 : 200,
    body: { status, version: 'sandbox', timestamp: new Date().toISOString(), components: { database, storage } },
  };
}

const TRAFFIC: { method: string; path: string; weight: number; ok: string }[] = [
  { method: 'GET', path: '/api/v1/documents', weight: 40, ok: '200' },
  { method: 'GET', path: '/api/v1/documents/{id}', weight: 25, ok: '200' },
  { method: 'POST', path: '/api/v1/documents', weight: 10, ok: '201' },
  { method: 'GET', path: '/api/v1/search', weight: 15, ok: '200' },
  { method: 'POST', path: '/api/v1/auth/login', weight: 10, ok: '200' },
];

/** Prometheus metrics with synthetic traffic: every scrape adds one batch shaped by the faults. */
export class SandboxMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests handled by the DMS API (synthetic in the sandbox)',
    labelNames: ['method', 'path', 'status'] as const,
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration in seconds (synthetic in the sandbox)',
    labelNames: ['method', 'path'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  private readonly failedLogins = new Counter({
    name: 'auth_failed_logins_total',
    help: 'Failed login attempts',
    registers: [this.registry],
  });
  private readonly faultGauge = new Gauge({
    name: 'sandbox_fault',
    help: 'Current sandbox faults (db_down as 0/1)',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });
  private scrapes = 0;
  private rand: () => number;

  constructor(seed = 1) {
    let a = seed >>> 0;
    // Same PRNG as the seed data: repeatable numbers make metric assertions stable.
    this.rand = () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  /** Records one batch of synthetic requests consistent with the faults. */
  simulate(faults: Required<Faults>): void {
    this.scrapes += 1;
    const total = REQUESTS_PER_SCRAPE;
    // Exactly error_rate % of the batch fails. db_down is deliberately not mixed in: each fault drives
    // one alert, so a test of db_connection_failure does not also trip api_error_rate.
    const errors = Math.round((total * faults.error_rate) / 100);
    const weightSum = TRAFFIC.reduce((s, t) => s + t.weight, 0);
    for (let i = 0; i < total; i++) {
      // Deterministic spread over the endpoints by weight; errors interleaved evenly across the batch.
      let slot = ((i * 37) % weightSum) + 0.5;
      let route = TRAFFIC[0];
      for (const t of TRAFFIC) {
        if (slot < t.weight) { route = t; break; }
        slot -= t.weight;
      }
      if (!route) continue;
      const isError = errors > 0 && Math.floor(((i + 1) * errors) / total) > Math.floor((i * errors) / total);
      const status = isError ? (i % 2 === 0 ? '500' : '503') : route.ok;
      this.requests.inc({ method: route.method, path: route.path, status });
      const base = 0.01 + this.rand() ** 3 * 0.4; // mostly fast, a tail up to ~0.4 s
      this.duration.observe({ method: route.method, path: route.path }, base + faults.latency);
    }
    // A trickle of failed logins (one every third scrape) plus the fault's per-scrape amount.
    this.failedLogins.inc((this.scrapes % 3 === 0 ? 1 : 0) + Math.round(faults.failed_logins));
    for (const name of FAULT_NAMES) this.faultGauge.set({ name }, Number(faults[name]));
  }

  /** Simulates a batch, then renders the Prometheus text exposition. */
  async scrape(faults: Required<Faults>): Promise<string> {
    this.simulate(faults);
    return this.registry.metrics();
  }
}

/** Starts the HTTP server of a sandbox on 127.0.0.1:manifest.port. */
export async function startHttpServer(m: SandboxManifest): Promise<http.Server> {
  const metrics = new SandboxMetrics(m.seed);
  // Read once, at start, as a real DMS does: a changed .env takes effect only after a restart.
  const secrets = await loadSecretFingerprints(m.envFile);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    // Lets `start` verify that its own child answered and not a stranger on a reused port.
    res.setHeader('x-sandbox-pid', String(process.pid));
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    void (async () => {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
      if (url.pathname === HEALTH_PATH) {
        const { code, body } = await health(m);
        return send(code, 'application/json', JSON.stringify({ ...body, secrets }));
      }
      if (url.pathname === METRICS_PATH) {
        const text = await metrics.scrape(await readFaults(m.faultsFile));
        return send(200, metrics.registry.contentType, text);
      }
      return send(404, 'application/json', JSON.stringify({ detail: 'Not Found' }));
    })().catch((err: unknown) => {
      if (!res.headersSent) send(500, 'text/plain', `${errorText(err)}\n`);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(m.port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** Foreground server for `cli.ts serve DIR`: runs until SIGTERM/SIGINT, then closes and exits 0. */
export async function serve(dir: string): Promise<void> {
  const m = await readManifest(dir);
  const server = await startHttpServer(m);
  console.log(`${new Date().toISOString()} sandbox server pid ${process.pid} listening on http://127.0.0.1:${m.port}`);
  const shutdown = (signal: string) => {
    console.log(`${new Date().toISOString()} ${signal}: stopping`);
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}
