// A real Alertmanager sends its webhook (payload version "4", bearer token) to a tiny HTTP server here;
// parseAlertmanagerWebhook must turn the firing and the resolved notification into the same alert.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAlertmanagerBatch, parseAlertmanagerWebhook } from '../../src/alerts/ingest.ts';
import { alertmanagerAvailable, startAlertmanager, type AlertmanagerPeer } from '../helpers/alertmanager.ts';

const TOKEN = 'test-alert-token-1234';
const WEBHOOK_TIMEOUT_MS = 8_000;

interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** The webhook target: answers 401 without the right bearer token, and queues every accepted body. */
class WebhookTarget {
  readonly received: ReceivedWebhook[] = [];
  readonly refused: IncomingHttpHeaders[] = [];
  private waiters: Array<() => void> = [];
  private readonly server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.method !== 'POST' || request.url !== '/alerts/alertmanager' || request.headers.authorization !== `Bearer ${TOKEN}`) {
        this.refused.push(request.headers);
        response.writeHead(401).end();
        return;
      }
      this.received.push({ headers: request.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown });
      response.writeHead(200).end();
      for (const wake of this.waiters.splice(0)) wake();
    });
  });

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/alerts/alertmanager`;
  }

  /** The first webhook (after `from`) that satisfies `match`, or a failure with Alertmanager's logs. */
  async next(from: number, match: (body: unknown) => boolean, logs: () => string): Promise<ReceivedWebhook> {
    const deadline = Date.now() + WEBHOOK_TIMEOUT_MS;
    for (;;) {
      const found = this.received.slice(from).find((webhook) => match(webhook.body));
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching webhook within ${WEBHOOK_TIMEOUT_MS} ms (${this.received.length} received, ${this.refused.length} refused); Alertmanager log:\n${logs()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function statusOf(body: unknown): unknown {
  return typeof body === 'object' && body !== null ? (body as { status?: unknown }).status : undefined;
}

describe.runIf(alertmanagerAvailable())('Alertmanager webhook (real prometheus-alertmanager)', () => {
  const target = new WebhookTarget();
  let alertmanager: AlertmanagerPeer | undefined;

  beforeAll(async () => {
    const webhookUrl = await target.listen();
    alertmanager = await startAlertmanager({ webhookUrl, token: TOKEN });
  });

  afterAll(async () => {
    await alertmanager?.stop();
    await target.close();
  });

  it('delivers a firing alert and its resolution with one fingerprint, parsed by parseAlertmanagerWebhook', async () => {
    const am = alertmanager!;
    const labels = { alertname: 'db_connection_failure', severity: 'critical', instance: 'dms-db-1' };
    await am.postAlerts([
      {
        labels,
        annotations: { summary: 'PostgreSQL refuses connections', description: 'SELECT 1 failed three times' },
        generatorURL: 'http://prometheus.test:9090/graph?g0.expr=up',
      },
    ]);

    const firingWebhook = await target.next(0, (body) => statusOf(body) === 'firing', am.logs);
    expect(firingWebhook.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(firingWebhook.headers['content-type']).toMatch(/^application\/json/);
    const firingBatch = parseAlertmanagerBatch(firingWebhook.body);
    expect(firingBatch).toMatchObject({ truncated: 0, receiver: 'dr-bot' });
    expect(firingBatch.groupKey).toContain('db_connection_failure');

    const [firing, ...otherFiring] = parseAlertmanagerWebhook(firingWebhook.body);
    expect(otherFiring).toEqual([]);
    expect(firing).toMatchObject({
      alert: 'db_connection_failure',
      severity: 'critical',
      status: 'firing',
      summary: 'PostgreSQL refuses connections',
      labels,
      source: 'alertmanager',
      link: 'http://prometheus.test:9090/graph?g0.expr=up',
    });
    expect(firing!.endsAt).toBeUndefined();
    expect(Date.parse(firing!.startsAt!)).toBeGreaterThan(Date.now() - 60_000);

    // The fingerprint is Alertmanager's own: the same one its API reports for the alert.
    const listed = (await (await fetch(`${am.url}/api/v2/alerts`)).json()) as Array<{ fingerprint: string; labels: Record<string, string> }>;
    expect(listed.map((alert) => alert.fingerprint)).toEqual([firing!.fingerprint]);
    expect(firing!.fingerprint).toMatch(/^[0-9a-f]{16}$/);

    const seen = target.received.length;
    await am.resolve(labels);
    const resolvedWebhook = await target.next(seen, (body) => statusOf(body) === 'resolved', am.logs);
    expect(resolvedWebhook.headers.authorization).toBe(`Bearer ${TOKEN}`);

    const [resolved, ...otherResolved] = parseAlertmanagerWebhook(resolvedWebhook.body);
    expect(otherResolved).toEqual([]);
    expect(resolved).toMatchObject({ alert: 'db_connection_failure', severity: 'critical', status: 'resolved', fingerprint: firing!.fingerprint, summary: 'PostgreSQL refuses connections', startsAt: firing!.startsAt });
    expect(Date.parse(resolved!.endsAt!)).toBeGreaterThanOrEqual(Date.parse(firing!.startsAt!));
    expect(target.refused).toEqual([]);
  });
});
