// The Events API v2 pager (pdjs underneath) against a TLS fake of PagerDuty: fields on the wire, one request
// per send whatever the answer, how each failure is classed for the outbox, and that TLS is really checked.
import { execFile } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { inspect, promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EventsPager } from '../../src/adapters/pagerduty/events-pager.ts';
import { Secret } from '../../src/config/secret.ts';
import { DrError } from '../../src/domain/errors.ts';
import { PagerError, type PagerEvent } from '../../src/ports/pager.ts';
import { startPagerDutyFake, type PagerDutyFake } from '../fakes/pagerduty-fake.ts';

const ROUTING_KEY = 'R0ut1ngKeyd3adb33f0123456789abcd';
const TRIGGER: PagerEvent = {
  action: 'trigger',
  dedupKey: 'rpo_breach:alphha-dms',
  summary: 'RPO breached: newest verified DB backup is 75 min old (RPO 1h)',
  severity: 'critical',
  source: 'alphha-dms',
  component: 'database',
  group: 'backups',
  class: 'rpo_breach',
  customDetails: { newest_backup: 'db-20250101T0000Z', age_minutes: 75, objectives: { rpo: '1h' } },
  links: [{ href: 'https://slack.example.com/archives/C1/p1', text: 'Slack thread' }],
  timestamp: '2025-01-01T01:15:00.000Z',
};

let fake: PagerDutyFake;
let pager: EventsPager;

beforeAll(async () => {
  fake = await startPagerDutyFake();
  pager = new EventsPager({ routingKey: new Secret(ROUTING_KEY), eventsUrl: fake.url, ca: fake.caPem });
});

afterAll(async () => {
  await fake?.close();
});

beforeEach(() => fake.reset());

/** The error a promise rejects with, asserted to be a PagerError that does not leak the routing key. */
async function pagerFailure(promise: Promise<unknown>): Promise<PagerError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PagerError);
  const pagerError = error as PagerError;
  for (const rendering of [pagerError.message, inspect(pagerError, { depth: 10 }), JSON.stringify(pagerError), String(pagerError.stack)]) {
    expect(rendering).not.toContain(ROUTING_KEY);
  }
  return pagerError;
}

/** Lets a hidden retry (pdjs's retryTimeout is 0 here) reach the fake before counting requests. */
const settle = (ms = 300) => new Promise((resolve) => setTimeout(resolve, ms));

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** POSTs a raw body to the fake, trusting its CA, and returns status and parsed JSON. */
function postToFake(body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${fake.url}/v2/enqueue`, { method: 'POST', ca: fake.caPem, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

describe('EventsPager against the PagerDuty fake', () => {
  it('sends trigger, acknowledge and resolve with one dedup_key, in order, with every field', async () => {
    expect(pager.configured).toBe(true);
    await expect(pager.send(TRIGGER)).resolves.toEqual({ dedupKey: TRIGGER.dedupKey });
    await expect(pager.send({ action: 'acknowledge', dedupKey: TRIGGER.dedupKey })).resolves.toEqual({ dedupKey: TRIGGER.dedupKey });
    await expect(pager.send({ action: 'resolve', dedupKey: TRIGGER.dedupKey })).resolves.toEqual({ dedupKey: TRIGGER.dedupKey });

    expect(fake.events.map((e) => [e.action, e.dedupKey, e.status])).toEqual([
      ['trigger', TRIGGER.dedupKey, 202],
      ['acknowledge', TRIGGER.dedupKey, 202],
      ['resolve', TRIGGER.dedupKey, 202],
    ]);
    const [trigger, acknowledge, resolve] = fake.events;
    expect(trigger!.body).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: TRIGGER.dedupKey,
      payload: {
        summary: 'RPO breached: newest verified DB backup is 75 min old (RPO 1h)',
        source: 'alphha-dms',
        severity: 'critical',
        timestamp: '2025-01-01T01:15:00.000Z',
        component: 'database',
        group: 'backups',
        class: 'rpo_breach',
        custom_details: { newest_backup: 'db-20250101T0000Z', age_minutes: 75, objectives: { rpo: '1h' } },
      },
      links: [{ href: 'https://slack.example.com/archives/C1/p1', text: 'Slack thread' }],
    });
    expect(acknowledge!.body).toEqual({ routing_key: ROUTING_KEY, event_action: 'acknowledge', dedup_key: TRIGGER.dedupKey });
    expect(resolve!.body).toEqual({ routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: TRIGGER.dedupKey });
    // Sent by pdjs itself, not a hand-rolled client.
    expect(trigger!.headers['user-agent']).toMatch(/^pdjs\//);
    expect(trigger!.headers['content-type']).toMatch(/^application\/json/);
  });

  it('shortens a summary over 1024 characters instead of having the page rejected', async () => {
    await pager.send({ ...TRIGGER, summary: 'x'.repeat(3000) });
    const summary = (fake.events[0]!.body.payload as { summary: string }).summary;
    expect(summary).toHaveLength(1024);
    expect(summary.endsWith('…')).toBe(true);
  });

  it('answers a 429 with Retry-After as retryable, with retryAfterMs, after exactly one request', async () => {
    fake.failNext({ status: 429, retryAfter: 30, times: 5 });
    const started = Date.now();
    const error = await pagerFailure(pager.send(TRIGGER));
    expect(Date.now() - started).toBeLessThan(3000);
    expect(error.retryable).toBe(true);
    expect(error.status).toBe(429);
    expect(error.retryAfterMs).toBe(30_000);
    expect(error.message).toMatch(/rate limit/i);
    await settle();
    expect(fake.events).toHaveLength(1);
    expect(fake.events[0]!.status).toBe(429);
  });

  it('answers a 429 without Retry-After as retryable with no retryAfterMs, and keeps working afterwards', async () => {
    fake.failNext({ status: 429 });
    const error = await pagerFailure(pager.send(TRIGGER));
    expect(error.retryable).toBe(true);
    expect(error.retryAfterMs).toBeUndefined();
    await settle();
    expect(fake.events).toHaveLength(1);
    await expect(pager.send(TRIGGER)).resolves.toEqual({ dedupKey: TRIGGER.dedupKey });
    expect(fake.events.map((e) => e.status)).toEqual([429, 202]);
  });

  it('tells concurrent sends apart: only the one that met the 429 fails', async () => {
    fake.failNext({ status: 429, retryAfter: 7 });
    const results = await Promise.allSettled(
      ['a', 'b', 'c'].map((key) => pager.send({ action: 'resolve', dedupKey: key })),
    );
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected).toHaveLength(1);
    expect((rejected[0] as PromiseRejectedResult).reason).toMatchObject({ retryable: true, status: 429, retryAfterMs: 7000 });
    const failedKey = fake.events.find((e) => e.status === 429)!.dedupKey;
    const fulfilledKeys = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.dedupKey] : []));
    expect(fulfilledKeys.sort()).toEqual(['a', 'b', 'c'].filter((k) => k !== failedKey));
    await settle();
    expect(fake.events).toHaveLength(3);
  });

  it('answers a 500 as retryable, after exactly one request', async () => {
    fake.failNext({ status: 500 });
    const error = await pagerFailure(pager.send(TRIGGER));
    expect(error.retryable).toBe(true);
    expect(error.status).toBe(500);
    await settle();
    expect(fake.events).toHaveLength(1);
  });

  it('passes a 503 Retry-After on too', async () => {
    fake.failNext({ status: 503, retryAfter: 2 });
    const error = await pagerFailure(pager.send(TRIGGER));
    expect(error).toMatchObject({ retryable: true, status: 503, retryAfterMs: 2000 });
  });

  it('answers a 400 as not retryable, with PagerDuty\'s message', async () => {
    const error = await pagerFailure(pager.send({ ...TRIGGER, source: '' }));
    expect(error.retryable).toBe(false);
    expect(error.status).toBe(400);
    expect(error.message).toContain('Event object is invalid');
    expect(error.message).toContain("'payload.source' is missing or blank");
    await settle();
    expect(fake.events).toHaveLength(1);
  });

  it('answers an unreachable host as retryable', async () => {
    const port = await closedPort();
    const unreachable = new EventsPager({ routingKey: new Secret(ROUTING_KEY), eventsUrl: `https://127.0.0.1:${port}`, ca: fake.caPem });
    const error = await pagerFailure(unreachable.send(TRIGGER));
    expect(error.retryable).toBe(true);
    expect(error.status).toBeUndefined();
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('gives up at its timeout, as retryable', async () => {
    fake.delayNext(5000);
    const quick = new EventsPager({ routingKey: new Secret(ROUTING_KEY), eventsUrl: fake.url, ca: fake.caPem, timeoutMs: 300 });
    const started = Date.now();
    const error = await pagerFailure(quick.send(TRIGGER));
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(2000);
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/did not answer within 300 ms/);
    // The fake saw the one request and the client hang up on it.
    const seen = await fake.waitFor((e) => e.action === 'trigger', 2000);
    expect(seen.status).toBe(0);
    expect(fake.events).toHaveLength(1);
  });

  it('stops when the caller aborts, as retryable', async () => {
    fake.delayNext(5000);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const error = await pagerFailure(pager.send(TRIGGER, controller.signal));
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/cancelled/);
    // Wait for the fake to see the hang-up, so it cannot land in a later test's events.
    await fake.waitFor((e) => e.status === 0, 2000);
  });

  it('refuses clearly when no routing key is configured', async () => {
    const unconfigured = new EventsPager({ routingKey: undefined, eventsUrl: fake.url });
    expect(unconfigured.configured).toBe(false);
    const error = await pagerFailure(unconfigured.send(TRIGGER));
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/PagerDuty is not configured/);
    expect(fake.events).toHaveLength(0);
  });

  it('rejects a PAGERDUTY_EVENTS_URL that is not an https origin', () => {
    for (const eventsUrl of ['http://127.0.0.1:8080', 'https://events.example.com/prefix', 'not a url']) {
      expect(() => new EventsPager({ routingKey: new Secret(ROUTING_KEY), eventsUrl })).toThrow(DrError);
    }
    expect(() => new EventsPager({ routingKey: new Secret(ROUTING_KEY), eventsUrl: 'https://events.example.com/' })).not.toThrow();
  });

  it('never shows the routing key when printed', () => {
    const rendering = inspect(pager, { depth: 10 }) + JSON.stringify(pager) + String(pager);
    expect(rendering).not.toContain(ROUTING_KEY);
  });
});

describe('TLS is real', () => {
  it('the fake does not speak plain http', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const req = httpRequest(`${fake.url.replace('https:', 'http:')}/v2/enqueue`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        resolve(`answered ${res.statusCode}`);
      });
      req.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code ?? e.message}`));
      req.end(JSON.stringify({ routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: 'x' }));
    });
    expect(outcome).toMatch(/^error /);
    expect(fake.events).toHaveLength(0);
  });

  it('the adapter refuses the fake\'s certificate when its CA is not trusted', async () => {
    const untrusting = new EventsPager({ routingKey: new Secret(ROUTING_KEY), eventsUrl: fake.url });
    const error = await pagerFailure(untrusting.send(TRIGGER));
    expect(error.message).toMatch(/certificate/i);
    expect(error.retryable).toBe(true);
    expect(fake.events).toHaveLength(0);
  });

  it('a child process trusts the fake through NODE_EXTRA_CA_CERTS, as production trusts a private CA', async () => {
    const adapter = fileURLToPath(new URL('../../src/adapters/pagerduty/events-pager.ts', import.meta.url));
    const secret = fileURLToPath(new URL('../../src/config/secret.ts', import.meta.url));
    const script = `
      const { EventsPager } = await import(${JSON.stringify(adapter)});
      const { Secret } = await import(${JSON.stringify(secret)});
      const pager = new EventsPager({ routingKey: new Secret(process.env.PAGERDUTY_ROUTING_KEY), eventsUrl: process.env.PAGERDUTY_EVENTS_URL });
      console.log(JSON.stringify(await pager.send({ action: 'resolve', dedupKey: 'from-child' })));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, ...fake.env, PAGERDUTY_ROUTING_KEY: ROUTING_KEY },
      timeout: 20_000,
    });
    expect(JSON.parse(stdout.trim())).toEqual({ dedupKey: 'from-child' });
    expect(fake.accepted().map((e) => e.dedupKey)).toEqual(['from-child']);
  });
});

describe('the PagerDuty fake speaks Events API v2', () => {
  it('generates a dedup_key for a trigger that has none', async () => {
    const { status, json } = await postToFake({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      payload: { summary: 's', source: 'h', severity: 'info' },
    });
    expect(status).toBe(202);
    expect(json).toMatchObject({ status: 'success', message: 'Event processed' });
    expect(json.dedup_key).toMatch(/^[0-9a-f]{32}$/);
    expect(fake.events[0]!.dedupKey).toBe(json.dedup_key);
  });

  it.each([
    ['routing_key', { event_action: 'resolve', dedup_key: 'k' }, "'routing_key' is missing or blank"],
    ['event_action', { routing_key: ROUTING_KEY, dedup_key: 'k' }, "'event_action' is missing or blank"],
    ['payload.summary', { routing_key: ROUTING_KEY, event_action: 'trigger', payload: { source: 'h', severity: 'info' } }, "'payload.summary' is missing or blank"],
    ['payload.source', { routing_key: ROUTING_KEY, event_action: 'trigger', payload: { summary: 's', severity: 'info' } }, "'payload.source' is missing or blank"],
    ['payload.severity', { routing_key: ROUTING_KEY, event_action: 'trigger', payload: { summary: 's', source: 'h' } }, "'payload.severity' is missing or blank"],
    ['a bad severity', { routing_key: ROUTING_KEY, event_action: 'trigger', payload: { summary: 's', source: 'h', severity: 'fatal' } }, "'payload.severity' is invalid"],
  ])('answers 400 invalid event for a missing or bad %s', async (_name, body, expected) => {
    const { status, json } = await postToFake(body);
    expect(status).toBe(400);
    expect(json.status).toBe('invalid event');
    expect(json.message).toBe('Event object is invalid');
    expect((json.errors as string[]).some((e) => e.startsWith(expected))).toBe(true);
    expect(fake.events[0]).toMatchObject({ status: 400, failed: true });
  });

  it('answers 400 to a body that is not JSON', async () => {
    const { status, json } = await postToFake('routing_key=x');
    expect(status).toBe(400);
    expect(json.status).toBe('invalid event');
  });
});
