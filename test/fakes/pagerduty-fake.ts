// A fake of PagerDuty's Events API v2 on https://127.0.0.1:PORT, with its own throwaway CA, so the real pdjs
// client (https only) and the real TLS verification run against it. Tests assert on `events`.
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One request the fake received, in arrival order; rejected and injected failures are recorded too. */
export interface PagerDutyFakeEvent {
  method: string;
  path: string;
  /** The parsed JSON body (`{ __raw }` when it was not a JSON object). */
  body: Record<string, unknown>;
  headers: IncomingHttpHeaders;
  /** Date.now() when the fake answered (or saw the client give up). */
  at: number;
  /** `routing_key`, `event_action` and `dedup_key` of the body, when they were strings. */
  routingKey?: string;
  action?: string;
  /** The key sent, or for an accepted trigger without one, the key the fake generated. */
  dedupKey?: string;
  /** HTTP status answered; 0 when the client hung up before the answer (see delayNext). */
  status: number;
  /** The answer: a JSON object, or text for 5xx and 404s. */
  response: Record<string, unknown> | string;
  /** True when the event was not accepted (status ≠ 202). */
  failed?: boolean;
  /** True when the failure came from failNext(). */
  injected?: boolean;
}

/** How failNext() makes requests fail, as PagerDuty does under load or in trouble. */
export interface PagerDutyFailure {
  status: 429 | 500 | 502 | 503;
  /** Consecutive requests that fail (default 1). */
  times?: number;
  /** Seconds for a Retry-After header; no header when omitted. */
  retryAfter?: number;
}

/** The handle a test holds on the running fake. */
export interface PagerDutyFake {
  /** Origin for PAGERDUTY_EVENTS_URL, e.g. https://127.0.0.1:PORT */
  url: string;
  /** host:port, what pdjs calls `server`. */
  server: string;
  /** PEM of the CA that signed the fake's certificate: trust it with https.Agent({ca}) or the adapter's `ca`. */
  caPem: string;
  /** The same CA as a file, for NODE_EXTRA_CA_CERTS of child processes. */
  caFile: string;
  /** Environment a child process needs to page this fake (routing key not included). */
  env: { PAGERDUTY_EVENTS_URL: string; NODE_EXTRA_CA_CERTS: string };
  /** Every request so far, in order. */
  events: PagerDutyFakeEvent[];
  /** Accepted events only (202), in order. */
  accepted(): PagerDutyFakeEvent[];
  /** Makes the next `times` requests fail with `status` before they are validated. */
  failNext(failure: PagerDutyFailure): void;
  /** Holds the answer to the next `times` requests for `ms` (to exercise client timeouts). */
  delayNext(ms: number, times?: number): void;
  /** First request matching predicate, already recorded or future; rejects after timeoutMs. */
  waitFor(predicate: (event: PagerDutyFakeEvent) => boolean, timeoutMs?: number): Promise<PagerDutyFakeEvent>;
  /** Clears events, pending failures and delays. */
  reset(): void;
  /** Stops the server and deletes the generated keys. */
  close(): Promise<void>;
}

const SEVERITIES = ['critical', 'error', 'warning', 'info'];
const ACTIONS = ['trigger', 'acknowledge', 'resolve'];

interface Answer {
  status: number;
  json?: Record<string, unknown>;
  text?: string;
  headers?: Record<string, string>;
  injected?: boolean;
  dedupKey?: string;
}

interface Waiter {
  predicate: (event: PagerDutyFakeEvent) => boolean;
  resolve: (event: PagerDutyFakeEvent) => void;
}

/** Generates a CA and a server certificate for IP:127.0.0.1, then listens on 127.0.0.1 on a free port. */
export async function startPagerDutyFake(): Promise<PagerDutyFake> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pagerduty-fake-'));
  const tls = await issueCertificates(dir);

  const events: PagerDutyFakeEvent[] = [];
  const failures: Array<{ status: number; retryAfter: number | undefined; remaining: number }> = [];
  const delays: Array<{ ms: number; remaining: number }> = [];
  const timers = new Set<NodeJS.Timeout>();
  let waiters: Waiter[] = [];

  const record = (event: PagerDutyFakeEvent) => {
    events.push(event);
    const matched = waiters.filter((w) => safeMatch(w.predicate, event));
    waiters = waiters.filter((w) => !matched.includes(w));
    for (const w of matched) w.resolve(event);
  };

  const takeFailure = (): Answer | undefined => {
    const failure = failures[0];
    if (!failure) return undefined;
    failure.remaining -= 1;
    if (failure.remaining <= 0) failures.shift();
    const headers = failure.retryAfter !== undefined ? { 'retry-after': String(failure.retryAfter) } : undefined;
    if (failure.status === 429) {
      return {
        status: 429,
        json: { status: 'throttle event', message: 'Requests for this service are arriving too quickly.  Please retry later.' },
        ...(headers ? { headers } : {}),
        injected: true,
      };
    }
    // PagerDuty's edge answers server errors with a plain page, not the JSON event shape.
    const text = failure.status === 500 ? 'Internal Server Error' : failure.status === 502 ? 'Bad Gateway' : 'Service Unavailable';
    return { status: failure.status, text, ...(headers ? { headers } : {}), injected: true };
  };

  const takeDelay = (): number => {
    const delay = delays[0];
    if (!delay) return 0;
    delay.remaining -= 1;
    if (delay.remaining <= 0) delays.shift();
    return delay.ms;
  };

  const answerFor = (req: IncomingMessage, urlPath: string, body: Record<string, unknown>, parsed: boolean): Answer => {
    if (urlPath !== '/v2/enqueue') return { status: 404, text: 'Not Found' };
    if (req.method !== 'POST') return { status: 405, text: 'Method Not Allowed', headers: { allow: 'POST' } };
    const injected = takeFailure();
    if (injected) return injected;
    const errors = parsed ? validate(body) : ['Event object is not valid JSON'];
    if (errors.length > 0) return { status: 400, json: { status: 'invalid event', message: 'Event object is invalid', errors } };
    // PagerDuty generates a UUID-like key for a trigger that has none, and echoes it back.
    const dedupKey = typeof body.dedup_key === 'string' && body.dedup_key !== '' ? body.dedup_key : randomUUID().replace(/-/g, '');
    return { status: 202, json: { status: 'success', message: 'Event processed', dedup_key: dedupKey }, dedupKey };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const raw = await readAll(req);
    const urlPath = new URL(req.url ?? '/', 'https://127.0.0.1').pathname;
    const { body, parsed } = parseJson(raw);
    const event: PagerDutyFakeEvent = { method: req.method ?? 'GET', path: urlPath, body, headers: req.headers, at: 0, status: 0, response: '' };
    if (typeof body.routing_key === 'string') event.routingKey = body.routing_key;
    if (typeof body.event_action === 'string') event.action = body.event_action;
    if (typeof body.dedup_key === 'string') event.dedupKey = body.dedup_key;

    const delay = takeDelay();
    if (delay > 0) {
      const answered = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          resolve(true);
        }, delay);
        timers.add(timer);
        res.once('close', () => {
          if (!res.writableFinished) {
            clearTimeout(timer);
            timers.delete(timer);
            resolve(false);
          }
        });
      });
      if (!answered) {
        event.at = Date.now();
        event.failed = true;
        record(event);
        return;
      }
    }

    const answer = answerFor(req, urlPath, body, parsed);
    event.at = Date.now();
    event.status = answer.status;
    event.response = answer.json ?? answer.text ?? '';
    if (answer.dedupKey !== undefined) event.dedupKey = answer.dedupKey;
    if (answer.status !== 202) event.failed = true;
    if (answer.injected) event.injected = true;
    // Record before answering so a client that has its answer can already find the event.
    record(event);

    const payload = answer.json !== undefined ? JSON.stringify(answer.json) : (answer.text ?? '');
    res.writeHead(answer.status, {
      'content-type': answer.json !== undefined ? 'application/json' : 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(payload),
      ...answer.headers,
    });
    res.end(payload);
  };

  const server = createServer({ key: tls.serverKey, cert: tls.serverCert }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`fake error: ${err instanceof Error ? err.message : String(err)}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `https://127.0.0.1:${port}`;

  return {
    url,
    server: `127.0.0.1:${port}`,
    caPem: tls.caPem,
    caFile: tls.caFile,
    env: { PAGERDUTY_EVENTS_URL: url, NODE_EXTRA_CA_CERTS: tls.caFile },
    events,
    accepted: () => events.filter((e) => e.status === 202),
    failNext(failure) {
      failures.push({ status: failure.status, retryAfter: failure.retryAfter, remaining: failure.times ?? 1 });
    },
    delayNext(ms, times = 1) {
      delays.push({ ms, remaining: times });
    },
    waitFor(predicate, timeoutMs = 5000) {
      const found = events.find((e) => safeMatch(predicate, e));
      if (found) return Promise.resolve(found);
      return new Promise<PagerDutyFakeEvent>((resolve, reject) => {
        const waiter: Waiter = {
          predicate,
          resolve: (e) => {
            clearTimeout(timer);
            resolve(e);
          },
        };
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== waiter);
          const seen = events.map((e) => `${e.action ?? '?'}(${e.status})`);
          reject(new Error(`PagerDutyFake.waitFor timed out after ${timeoutMs} ms; ${seen.length} request(s) seen: ${seen.join(', ') || '(none)'}`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    reset() {
      events.length = 0;
      failures.length = 0;
      delays.length = 0;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** PagerDuty's checks on an alert event; every problem is listed, as PagerDuty does in `errors`. */
function validate(body: Record<string, unknown>): string[] {
  const errors: string[] = [];
  const blank = (value: unknown) => typeof value !== 'string' || value.trim() === '';
  if (blank(body.routing_key)) errors.push("'routing_key' is missing or blank");
  if (blank(body.event_action)) errors.push("'event_action' is missing or blank");
  else if (!ACTIONS.includes(String(body.event_action))) errors.push("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)");
  if (body.dedup_key !== undefined && typeof body.dedup_key !== 'string') errors.push("'dedup_key' must be a string");
  if (typeof body.dedup_key === 'string' && body.dedup_key.length > 255) errors.push("'dedup_key' is too long (maximum is 255 characters)");
  if ((body.event_action === 'acknowledge' || body.event_action === 'resolve') && blank(body.dedup_key)) {
    errors.push("'dedup_key' is missing or blank");
  }
  if (body.event_action === 'trigger') {
    const payload = body.payload;
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      errors.push("'payload' is missing or blank");
    } else {
      const p = payload as Record<string, unknown>;
      if (blank(p.summary)) errors.push("'payload.summary' is missing or blank");
      else if (String(p.summary).length > 1024) errors.push("'payload.summary' is too long (maximum is 1024 characters)");
      if (blank(p.source)) errors.push("'payload.source' is missing or blank");
      if (blank(p.severity)) errors.push("'payload.severity' is missing or blank");
      else if (!SEVERITIES.includes(String(p.severity))) errors.push("'payload.severity' is invalid (must be one of: critical, error, warning, info)");
    }
    if (body.links !== undefined && (!Array.isArray(body.links) || body.links.some((l) => typeof l !== 'object' || l === null || blank((l as Record<string, unknown>).href)))) {
      errors.push("'links' must be a list of objects with an 'href'");
    }
  }
  return errors;
}

/** Throwaway CA plus a server certificate for 127.0.0.1 signed by it, made with openssl in `dir`. */
async function issueCertificates(dir: string): Promise<{ caPem: string; caFile: string; serverKey: string; serverCert: string }> {
  const file = (name: string) => path.join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', [
    'req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2',
    '-subj', '/CN=dr-bot PagerDuty fake CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await run('openssl', ['req', '-new', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1']);
  await writeFile(
    file('server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
  );
  await run('openssl', [
    'x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'),
    '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '2', '-extfile', file('server.ext'), '-out', file('server.pem'),
  ]);
  const [caPem, serverKey, serverCert] = await Promise.all([
    readFile(file('ca.pem'), 'utf8'),
    readFile(file('server.key'), 'utf8'),
    readFile(file('server.pem'), 'utf8'),
  ]);
  return { caPem, caFile: file('ca.pem'), serverKey, serverCert };
}

function parseJson(raw: Buffer): { body: Record<string, unknown>; parsed: boolean } {
  const text = raw.toString('utf8');
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return { body: value as Record<string, unknown>, parsed: true };
  } catch {
    // Falls through: PagerDuty answers a non-object body with 400 like any other invalid event.
  }
  return { body: { __raw: text }, parsed: false };
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

// A throwing predicate counts as "no match" rather than crashing the server.
function safeMatch(predicate: (event: PagerDutyFakeEvent) => boolean, event: PagerDutyFakeEvent): boolean {
  try {
    return predicate(event);
  } catch {
    return false;
  }
}
