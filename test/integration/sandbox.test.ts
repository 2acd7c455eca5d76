// The sandbox DMS against real SQLite and real PostgreSQL: every end-to-end test stands on it, so
// its promises (checksums match, faults show up, stop/start commands work from anywhere) are checked here.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { cliArgs, createSandbox, DEFAULT_PG_ADMIN_URL, openSandbox } from '../../sandbox/sandbox.ts';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { health, REQUESTS_PER_SCRAPE } from '../../sandbox/server.ts';

const ADMIN_URL = process.env.DR_TEST_PG_ADMIN_URL ?? DEFAULT_PG_ADMIN_URL;

async function pgReachable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}
// PostgreSQL tests may be skipped on a developer machine without PG, never under CI.
const skipPg = !(await pgReachable()) && process.env.CI !== 'true';

const tmpDirs: string[] = [];
async function tmpDir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'dr-sandbox-test-'));
  tmpDirs.push(d);
  return path.join(d, 'sb'); // a not-yet-existing child, like a user would pass to `create`
}
afterAll(async () => {
  await Promise.all(tmpDirs.map((d) => rm(d, { recursive: true, force: true })));
});

function run(cmd: string, args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function getHealth(sb: Sandbox): Promise<{ code: number; body: any }> {
  const res = await fetch(sb.healthUrl, { signal: AbortSignal.timeout(10_000) });
  return { code: res.status, body: await res.json() };
}

/** Sums the samples of one metric whose labels satisfy `match`. */
function sumMetric(text: string, name: string, match: (labels: Record<string, string>) => boolean = () => true): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) labels[l[1] ?? ''] = l[2] ?? '';
    if (match(labels)) total += Number(m[3]);
  }
  return total;
}

async function scrape(sb: Sandbox): Promise<string> {
  const res = await fetch(sb.metricsUrl);
  expect(res.status).toBe(200);
  return res.text();
}

async function checkUploads(sb: Sandbox, rows: { file_path: string; checksum_sha256: string; size_bytes: number | string }[]) {
  expect(rows.length).toBe(sb.counts.documents);
  for (const r of rows) {
    expect(r.file_path).toMatch(/^tenant-\d+\/doc-\d{4}\.\w+$/);
    const bytes = await readFile(path.join(sb.uploadsDir, r.file_path));
    expect(bytes.length).toBe(Number(r.size_bytes));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(r.checksum_sha256);
  }
  const files = (await readdir(sb.uploadsDir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
  expect(files.length).toBe(rows.length);
}

describe('SQLite sandbox', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await createSandbox({ dir: await tmpDir(), seed: 7 });
  });
  afterAll(async () => {
    await sb?.destroy();
  });

  it('creates the four DMS tables with the seeded counts', () => {
    expect(sb.kind).toBe('sqlite');
    const file = sb.databaseUrl.replace(/^sqlite:/, '');
    expect(file).toBe(path.join(sb.dir, 'data', 'alphha.db'));
    const db = new Database(file, { readonly: true });
    try {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
      expect(tables).toEqual(['audit_ledger', 'documents', 'tenants', 'users']);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      const count = (t: string) => db.prepare(`SELECT count(*) FROM ${t}`).pluck().get();
      expect(count('tenants')).toBe(3);
      expect(count('users')).toBe(10);
      expect(count('documents')).toBe(50);
      expect(sb.counts).toMatchObject({ tenants: 3, users: 10, documents: 50 });
      const cols = (t: string) => db.prepare(`SELECT name FROM pragma_table_info('${t}') ORDER BY cid`).pluck().all();
      expect(cols('documents')).toEqual(['id', 'tenant_id', 'file_path', 'checksum_sha256', 'size_bytes', 'created_at']);
      expect(cols('audit_ledger')).toEqual(['id', 'created_at', 'actor', 'action', 'detail']);
      // Audit rows are one per hour from 30 min ago: exactly 24 in the last 24 h, spread over 3 days.
      const last24h = db.prepare("SELECT count(*) FROM audit_ledger WHERE created_at >= datetime('now', '-24 hours')").pluck().get();
      expect(last24h).toBe(24);
      expect(count('audit_ledger')).toBe(72);
    } finally {
      db.close();
    }
  });

  it('writes one uploads file per document matching checksum_sha256 and size_bytes', async () => {
    const db = new Database(sb.databaseUrl.slice('sqlite:'.length), { readonly: true });
    const rows = db.prepare('SELECT file_path, checksum_sha256, size_bytes FROM documents').all() as
      { file_path: string; checksum_sha256: string; size_bytes: number }[];
    db.close();
    await checkUploads(sb, rows);
    const sizes = new Set(rows.map((r) => r.size_bytes));
    expect(sizes.size).toBeGreaterThan(20); // varied
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(1024);
  });

  it('is deterministic for a seed', async () => {
    const other = await createSandbox({ dir: await tmpDir(), seed: 7, documents: 5 });
    try {
      const sums = (s: Sandbox) => {
        const db = new Database(s.databaseUrl.slice('sqlite:'.length), { readonly: true });
        try {
          return db.prepare('SELECT checksum_sha256 FROM documents WHERE id <= 5 ORDER BY id').pluck().all();
        } finally {
          db.close();
        }
      };
      expect(sums(other)).toEqual(sums(sb));
    } finally {
      await other.destroy();
    }
  });

  it('writes .env with mode 0600 and two random 32-byte keys, plus config files to archive', async () => {
    const st = await stat(sb.envFile);
    expect(st.mode & 0o777).toBe(0o600);
    const env = await readFile(sb.envFile, 'utf8');
    for (const key of ['SECRET_KEY', 'ENCRYPTION_KEY']) {
      const m = new RegExp(`^${key}=(.+)$`, 'm').exec(env);
      expect(m).not.toBeNull();
      expect(Buffer.from(m?.[1] ?? '', 'base64').length).toBe(32);
    }
    expect(existsSync(path.join(sb.dir, 'docker-compose.yml'))).toBe(true);
    expect(existsSync(path.join(sb.dir, 'nginx', 'nginx.conf'))).toBe(true);
  });

  it('writes a dr.yml that parses and points at existing paths', async () => {
    const cfg = YAML.parse(await readFile(sb.configPath, 'utf8'));
    expect(cfg.system).toEqual({ name: 'alphha-sandbox', health_url: sb.healthUrl, metrics_url: sb.metricsUrl });
    expect(sb.healthUrl).toBe(`http://127.0.0.1:${sb.port}/api/v1/monitoring/health`);
    expect(sb.metricsUrl).toBe(`http://127.0.0.1:${sb.port}/api/v1/monitoring/prometheus`);
    expect(cfg.database.url).toBe(sb.databaseUrl);
    expect(existsSync(cfg.database.url.slice('sqlite:'.length))).toBe(true);
    expect(cfg.storage).toEqual({ kind: 'local', path: sb.uploadsDir });
    expect(path.isAbsolute(cfg.backups.repository)).toBe(true);
    expect(cfg.backups.config_paths).toHaveLength(3);
    for (const p of [...cfg.backups.config_paths, cfg.secrets.env_file, cfg.storage.path]) {
      expect(path.isAbsolute(p)).toBe(true);
      expect(existsSync(p)).toBe(true);
    }
    expect(cfg.secrets.env_file).toBe(sb.envFile);
    for (const k of ['stop', 'start', 'migrate', 'logs']) expect(typeof cfg.service[k]).toBe('string');
    const again = await openSandbox(sb.dir);
    expect(again.databaseUrl).toBe(sb.databaseUrl);
    expect(again.port).toBe(sb.port);
  });

  it('serves health and metrics, reflects faults, and stops/starts through the dr.yml commands', async () => {
    await sb.startServer();
    let h = await getHealth(sb);
    expect(h.code).toBe(200);
    expect(h.body).toMatchObject({ status: 'healthy', version: 'sandbox', components: { database: { status: 'healthy' }, storage: { status: 'healthy' } } });
    expect(typeof h.body.components.database.latency_ms).toBe('number');

    expect((await fetch(`http://127.0.0.1:${sb.port}/nope`)).status).toBe(404);

    // db_down: unhealthy, 503, with an error; another process flips it through faults.json.
    await sb.setFault('db_down', true);
    h = await getHealth(sb);
    expect(h.code).toBe(503);
    expect(h.body.status).toBe('unhealthy');
    expect(h.body.components.database.status).toBe('unhealthy');
    expect(h.body.components.database.error).toMatch(/db_down/);
    await sb.clearFaults();
    expect((await getHealth(sb)).code).toBe(200);

    // error_rate: 5xx share between two scrapes equals the fault.
    const before = await scrape(sb);
    expect(before).toContain('# TYPE http_requests_total counter');
    expect(before).toContain('# TYPE http_request_duration_seconds histogram');
    expect(before).toContain('# TYPE auth_failed_logins_total counter');
    expect(sumMetric(before, 'http_requests_total', (l) => l.status?.startsWith('5') ?? false)).toBe(0);
    await sb.setFault('error_rate', 25);
    const after = await scrape(sb);
    const d5xx = sumMetric(after, 'http_requests_total', (l) => l.status?.startsWith('5') ?? false)
      - sumMetric(before, 'http_requests_total', (l) => l.status?.startsWith('5') ?? false);
    const dAll = sumMetric(after, 'http_requests_total') - sumMetric(before, 'http_requests_total');
    expect(dAll).toBe(REQUESTS_PER_SCRAPE);
    expect(d5xx / dAll).toBeCloseTo(0.25, 5);
    h = await getHealth(sb);
    expect(h.code).toBe(200);
    expect(h.body.status).toBe('degraded');

    // latency: recorded durations grow by the fault, and health itself is delayed.
    await sb.clearFaults();
    await sb.setFault('latency', 0.4);
    const lBefore = await scrape(sb);
    const lAfter = await scrape(sb);
    const dSum = sumMetric(lAfter, 'http_request_duration_seconds_sum') - sumMetric(lBefore, 'http_request_duration_seconds_sum');
    expect(dSum / REQUESTS_PER_SCRAPE).toBeGreaterThan(0.4);
    const t0 = Date.now();
    await getHealth(sb);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(380);

    // failed_logins: added to the counter on each scrape.
    await sb.clearFaults();
    const fBefore = sumMetric(await scrape(sb), 'auth_failed_logins_total');
    await sb.setFault('failed_logins', 50);
    const fAfter = sumMetric(await scrape(sb), 'auth_failed_logins_total');
    expect(fAfter - fBefore).toBeGreaterThanOrEqual(50);
    await sb.clearFaults();

    // service.stop / service.start exactly as dr-bot runs them: sh -c from another directory.
    const cfg = YAML.parse(await readFile(sb.configPath, 'utf8'));
    const elsewhere = os.tmpdir();
    const stop = await run('sh', ['-c', cfg.service.stop], elsewhere);
    expect(stop.code, stop.stderr).toBe(0);
    await expect(fetch(sb.healthUrl, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();
    expect(existsSync(path.join(sb.dir, 'server.pid'))).toBe(false);
    const stopAgain = await run('sh', ['-c', cfg.service.stop], elsewhere);
    expect(stopAgain.code, stopAgain.stderr).toBe(0);

    const start = await run('sh', ['-c', cfg.service.start], '/');
    expect(start.code, start.stderr).toBe(0);
    expect((await getHealth(sb)).code).toBe(200);
    const logs = await run('sh', ['-c', cfg.service.logs], elsewhere);
    expect(logs.stdout).toMatch(/listening on/);
    const migrate = await run('sh', ['-c', cfg.service.migrate], elsewhere);
    expect(migrate.code, migrate.stderr).toBe(0);

    await sb.stopServer();
    await expect(fetch(sb.healthUrl, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();
  });

  it('corruptDatabase makes quick_check fail and health report the database unhealthy', async () => {
    const victim = await createSandbox({ dir: await tmpDir(), documents: 20 });
    try {
      await victim.corruptDatabase();
      const file = victim.databaseUrl.slice('sqlite:'.length);
      let failed = false;
      try {
        const db = new Database(file, { readonly: true });
        try {
          const res = db.pragma('quick_check', { simple: true });
          failed = res !== 'ok';
          db.prepare('SELECT count(*) FROM documents').get();
        } finally {
          db.close();
        }
      } catch (err) {
        failed = true;
        expect((err as { code?: string }).code).toMatch(/SQLITE_(CORRUPT|NOTADB)/);
      }
      expect(failed).toBe(true);
      const h = await health(victim.manifest);
      expect(h.code).toBe(503);
      expect(h.body.components.database.status).toBe('unhealthy');
    } finally {
      await victim.destroy();
    }
    expect(existsSync(victim.dir)).toBe(false);
  });

  it('CLI create / fault / destroy', async () => {
    const dir = await tmpDir();
    const created = await run(process.execPath, cliArgs('create', dir, '--documents', '4'), os.tmpdir());
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout.trim()).toBe(path.join(dir, 'dr.yml'));
    const opened = await openSandbox(dir);
    expect(opened.counts.documents).toBe(4);
    const fault = await run(process.execPath, cliArgs('fault', dir, 'error_rate', '10'), os.tmpdir());
    expect(fault.code, fault.stderr).toBe(0);
    expect(JSON.parse(await readFile(path.join(dir, 'faults.json'), 'utf8'))).toEqual({ error_rate: 10 });
    const bad = await run(process.execPath, cliArgs('fault', dir, 'nonsense', '1'), os.tmpdir());
    expect(bad.code).toBe(1);
    const destroyed = await run(process.execPath, cliArgs('destroy', dir), os.tmpdir());
    expect(destroyed.code, destroyed.stderr).toBe(0);
    expect(existsSync(dir)).toBe(false);
  });
});

describe.skipIf(skipPg)('PostgreSQL sandbox', () => {
  let sb: Sandbox;
  const q = async <T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query<T>(sql, params)).rows;
    } finally {
      await c.end();
    }
  };
  beforeAll(async () => {
    sb = await createSandbox({ dir: await tmpDir(), database: 'postgres', postgresAdminUrl: ADMIN_URL, documents: 30 });
  });
  afterAll(async () => {
    await sb?.destroy().catch(() => undefined);
  });

  it('creates a fresh database with the four tables and the seeded counts', async () => {
    expect(sb.kind).toBe('postgres');
    expect(sb.databaseUrl).toMatch(/^postgres:\/\/.+\/dms_sandbox_[0-9a-f]+$/);
    const tables = await q<{ table_name: string }>(sb.databaseUrl,
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name");
    expect(tables.map((t) => t.table_name)).toEqual(['audit_ledger', 'documents', 'tenants', 'users']);
    const [counts] = await q<Record<string, number>>(sb.databaseUrl, `SELECT
      (SELECT count(*)::int FROM tenants) AS tenants, (SELECT count(*)::int FROM users) AS users,
      (SELECT count(*)::int FROM documents) AS documents,
      (SELECT count(*)::int FROM audit_ledger WHERE created_at >= now() - interval '24 hours') AS audit24`);
    expect(counts).toEqual({ tenants: 3, users: 10, documents: 30, audit24: 24 });
    const cfg = YAML.parse(await readFile(sb.configPath, 'utf8'));
    expect(cfg.database.url).toBe(sb.databaseUrl);
  });

  it('writes uploads matching the documents table', async () => {
    const rows = await q<{ file_path: string; checksum_sha256: string; size_bytes: string }>(sb.databaseUrl,
      'SELECT file_path, checksum_sha256, size_bytes FROM documents');
    await checkUploads(sb, rows);
  });

  it('health checks the real database and honours db_down', async () => {
    await sb.startServer();
    let h = await getHealth(sb);
    expect(h.code).toBe(200);
    expect(h.body.components.database).toMatchObject({ status: 'healthy', documents: 30 });
    await sb.setFault('db_down', true);
    h = await getHealth(sb);
    expect(h.code).toBe(503);
    expect(h.body.status).toBe('unhealthy');
    await sb.clearFaults();
    await sb.stopServer();
  });

  it('corruptDatabase is refused for PostgreSQL', async () => {
    await expect(sb.corruptDatabase()).rejects.toThrow(/SQLite/);
  });

  it('destroy drops the database and the copies a restore left beside it', async () => {
    const name = new URL(sb.databaseUrl).pathname.slice(1);
    const sibling = `${name}_pre_1700000000`;
    await q(ADMIN_URL, `CREATE DATABASE "${sibling}"`);
    await sb.destroy();
    const left = await q<{ datname: string }>(ADMIN_URL, 'SELECT datname FROM pg_database WHERE datname IN ($1, $2)', [name, sibling]);
    expect(left).toEqual([]);
    expect(existsSync(sb.dir)).toBe(false);
  });
});
