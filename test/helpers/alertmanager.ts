// A real Prometheus Alertmanager (Debian's prometheus-alertmanager, 0.25) on 127.0.0.1, as the peer that
// sends the webhook of DESIGN.md §4 (STACK-NOTES "Alertmanager"). One route, one webhook receiver with a
// bearer token, short group timers so a test sees the firing and the resolved notification in seconds.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify as toYaml } from 'yaml';

/** Where the Debian package installs the binary (.ci/run installs it when missing). */
export const ALERTMANAGER_BIN = process.env.DR_TEST_ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager';

/** An alert as Alertmanager's API v2 takes it (`POST /api/v2/alerts`). */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
  endsAt?: string;
  generatorURL?: string;
}

/** A running Alertmanager and the calls a test makes on it. */
export interface AlertmanagerPeer {
  /** Base URL of its web API, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** Posts alerts to `/api/v2/alerts`; a missing startsAt is set to now (remembered for resolve). */
  postAlerts(alerts: PostableAlert[]): Promise<void>;
  /** Resolves the alert with exactly these labels: posts it again (same annotations, startsAt) with endsAt now. */
  resolve(labels: Record<string, string>): Promise<void>;
  /** Its stdout and stderr so far (the last 64 KB), for failure messages. */
  logs(): string;
  /** Stops the process (SIGTERM, then SIGKILL) and removes its temp folder. Safe to call twice. */
  stop(): Promise<void>;
}

/** How to start it: where its webhook goes and the bearer token it sends. */
export interface AlertmanagerOptions {
  webhookUrl: string;
  token: string;
  /** Route grouping; default `['alertname']`. `['...']` makes every alert its own group. */
  groupBy?: string[];
  /** The webhook's `max_alerts`: more alerts in a group are cut, and counted in `truncatedAlerts`. */
  maxAlerts?: number;
}

const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
const LOG_BYTES = 64 * 1024;

/** Whether the Alertmanager binary is installed; under CI=true its absence is a failure, never a skip. */
export function alertmanagerAvailable(): boolean {
  const found = existsSync(ALERTMANAGER_BIN);
  if (!found && process.env.CI === 'true') throw new Error(`Alertmanager is required under CI=true but ${ALERTMANAGER_BIN} is missing (.ci/run installs prometheus-alertmanager)`);
  return found;
}

/** Starts Alertmanager with a webhook receiver and waits until `/-/ready` answers. */
export async function startAlertmanager(options: AlertmanagerOptions): Promise<AlertmanagerPeer> {
  const directory = await mkdtemp(path.join(tmpdir(), 'dr-alertmanager-'));
  const configFile = path.join(directory, 'alertmanager.yml');
  await writeFile(configFile, toYaml(alertmanagerConfig(options)), { mode: 0o600 });

  // The port is picked, released, then bound by Alertmanager: another process can take it in between,
  // so a start that dies on "address already in use" is retried on a new port.
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= 3; attempt += 1) {
    const port = await freePort();
    const launched = launch(configFile, path.join(directory, 'data'), port);
    try {
      await waitUntilReady(launched, `http://127.0.0.1:${port}`);
      return peer(launched, `http://127.0.0.1:${port}`, directory);
    } catch (error) {
      await launched.stop();
      lastError = error as Error;
      if (!/address already in use/i.test(launched.logs())) break;
    }
  }
  await rm(directory, { recursive: true, force: true });
  throw lastError ?? new Error('Alertmanager did not start');
}

/** The Alertmanager config: one route to one webhook receiver that sends resolved alerts too. */
function alertmanagerConfig(options: AlertmanagerOptions): Record<string, unknown> {
  return {
    route: {
      receiver: 'dr-bot',
      group_by: options.groupBy ?? ['alertname'],
      group_wait: '1s',
      group_interval: '1s',
      repeat_interval: '1h',
    },
    receivers: [
      {
        name: 'dr-bot',
        webhook_configs: [
          {
            url: options.webhookUrl,
            send_resolved: true,
            ...(options.maxAlerts === undefined ? {} : { max_alerts: options.maxAlerts }),
            // prometheus/common http_config: `authorization.type` defaults to Bearer.
            http_config: { authorization: { credentials: options.token } },
          },
        ],
      },
    ],
  };
}

interface Launched {
  child: ChildProcess;
  exited: Promise<void>;
  logs(): string;
  stop(): Promise<void>;
}

function launch(configFile: string, storagePath: string, port: number): Launched {
  const child = spawn(
    ALERTMANAGER_BIN,
    [
      `--config.file=${configFile}`,
      `--storage.path=${storagePath}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Empty disables clustering: no gossip port, no waiting for peers to settle.
      '--cluster.listen-address=',
      '--log.level=debug',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const capture = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (output.length > LOG_BYTES) output = output.slice(-LOG_BYTES);
  };
  child.stdout?.on('data', capture);
  child.stderr?.on('data', capture);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (error) => {
      capture(Buffer.from(`spawn failed: ${error.message}\n`));
      resolve();
    });
  });
  // A crashed test runner must not leave Alertmanager behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  return {
    child,
    exited,
    logs: () => output,
    async stop() {
      process.off('exit', killOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

async function waitUntilReady(launched: Launched, url: string): Promise<void> {
  let exited = false;
  void launched.exited.then(() => (exited = true));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`Alertmanager exited before it was ready:\n${launched.logs()}`);
    try {
      const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Alertmanager was not ready within ${READY_TIMEOUT_MS} ms:\n${launched.logs()}`);
}

function peer(launched: Launched, url: string, directory: string): AlertmanagerPeer {
  // Every alert posted, by its labels. Resolving re-posts it as Prometheus does: same annotations (they
  // replace the stored ones) and same startsAt (Alertmanager refuses an endsAt before the startsAt, and
  // would default a missing startsAt to now).
  const posted = new Map<string, PostableAlert & { startsAt: string }>();
  let stopped = false;

  async function post(alerts: PostableAlert[]): Promise<void> {
    const response = await fetch(`${url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(alerts),
    });
    if (!response.ok) throw new Error(`Alertmanager refused the alerts: ${response.status} ${await response.text()}\n${launched.logs()}`);
  }

  return {
    url,
    async postAlerts(alerts) {
      const now = new Date().toISOString();
      const withStart = alerts.map((alert) => ({ ...alert, startsAt: alert.startsAt ?? now }));
      for (const alert of withStart) posted.set(labelKey(alert.labels), alert);
      await post(withStart);
    },
    async resolve(labels) {
      const endsAt = new Date();
      const earlier = posted.get(labelKey(labels)) ?? { labels, startsAt: new Date(endsAt.getTime() - 1_000).toISOString() };
      await post([{ ...earlier, labels, endsAt: endsAt.toISOString() }]);
    },
    logs: launched.logs,
    async stop() {
      if (stopped) return;
      stopped = true;
      await launched.stop();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

function labelKey(labels: Record<string, string>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
