import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Secret } from '../config/secret.ts';
import { DrError, errorText } from '../domain/errors.ts';
import type { BotMetrics } from '../observability/metrics.ts';
import type { StateStore } from '../ports/state-store.ts';
import type { SlackSurface } from '../slack/app.ts';

// Slack's own payloads are far below this; anything larger is refused before it is read.
const MAX_SLACK_BODY_BYTES = 1024 * 1024;
// One alert of POST /alerts is far below 1 MB; bigger bodies are refused.
const MAX_ALERT_BODY_BYTES = 1024 * 1024;
// An Alertmanager alert is 0.5–1.5 KB: a storm of ALERT_LIMITS.alertsPerWebhook (10,000) alerts must fit in one webhook.
const MAX_ALERTMANAGER_BODY_BYTES = 16 * 1024 * 1024;
const HEALTH_TIMEOUT_MS = 2_000;

/** What the HTTP listener serves: Slack's endpoint, the bot's health and its metrics. */
export interface HttpDeps {
  store: StateStore;
  metrics: BotMetrics;
  slack: SlackSurface | undefined;
  /** DR_ALERT_TOKEN; unset, the /alerts routes answer 503. */
  alertToken: Secret | undefined;
  /** Validates a webhook body and takes its alerts in (state and outbox persisted before it resolves). */
  takeInAlerts?: (format: 'alertmanager' | 'alert', body: unknown) => Promise<{ accepted: number; changed: number }>;
  logger: Logger;
  startedAt: Date;
}

/** The one HTTP listener (DESIGN.md §4 routes); Bolt's receiver is mounted on POST /slack/events. */
export function createHttpServer(deps: HttpDeps): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = `${req.method} ${url.pathname}`;
    const handle = async () => {
      if (route === 'GET /healthz') return healthz(deps, res);
      if (route === 'GET /metrics') return metrics(deps, res);
      if (url.pathname === '/slack/events' && deps.slack?.requestListener) return slackEvents(deps, req, res, deps.slack.requestListener);
      if (url.pathname === '/alerts' || url.pathname === '/alerts/alertmanager') return alerts(deps, req, res, url.pathname === '/alerts' ? 'alert' : 'alertmanager');
      return sendJson(res, 404, { error: `no route for ${req.method} ${url.pathname}` });
    };
    handle().catch((error) => {
      deps.logger.error({ err: errorText(error), route }, 'HTTP handler failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.end();
    });
  });
}

function slackEvents(deps: HttpDeps, req: IncomingMessage, res: ServerResponse, listener: NonNullable<SlackSurface['requestListener']>): void {
  if (req.method !== 'POST') return sendJson(res, 405, { error: 'POST only' });
  const length = Number(req.headers['content-length']);
  if (!Number.isFinite(length)) return sendJson(res, 411, { error: 'Content-Length required' });
  if (length > MAX_SLACK_BODY_BYTES) return sendJson(res, 413, { error: `body larger than ${MAX_SLACK_BODY_BYTES} bytes` });
  const started = performance.now();
  // With processBeforeResponse off, Bolt answers at ack(): the response finishing is the ack.
  res.once('finish', () => deps.metrics.ackSeconds.observe({ surface: 'slack' }, (performance.now() - started) / 1000));
  listener(req, res);
}

// Alert ingestion (DESIGN.md §4): refused outright until DR_ALERT_TOKEN is set, then bearer-authenticated,
// size-limited and schema-validated; 202 only once the alerts and their notifications are persisted.
async function alerts(deps: HttpDeps, req: IncomingMessage, res: ServerResponse, format: 'alertmanager' | 'alert'): Promise<void> {
  if (req.method !== 'POST') return void (req.resume(), sendJson(res, 405, { error: 'POST only' }));
  if (!deps.alertToken) return void (req.resume(), sendJson(res, 503, { error: 'alert ingestion is disabled: DR_ALERT_TOKEN is not set' }));
  const presented = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
  if (!tokensMatch(presented, deps.alertToken.reveal())) return void (req.resume(), sendJson(res, 401, { error: 'missing or wrong bearer token' }));
  if (!deps.takeInAlerts) return void (req.resume(), sendJson(res, 503, { error: 'alert routing is not running in this process; nothing was recorded' }));
  const limit = format === 'alertmanager' ? MAX_ALERTMANAGER_BODY_BYTES : MAX_ALERT_BODY_BYTES;
  const body = await readLimited(req, limit);
  if (body === 'too large') {
    res.setHeader('connection', 'close');
    return sendJson(res, 413, { error: `body larger than ${limit} bytes; nothing was recorded` });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return sendJson(res, 400, { error: 'body is not JSON; nothing was recorded' });
  }
  try {
    const result = await deps.takeInAlerts(format, parsed);
    sendJson(res, 202, { status: 'accepted', ...result });
  } catch (error) {
    if (error instanceof DrError && error.code === 'ALERT_INVALID') return sendJson(res, 400, { error: `${error.userMessage}; nothing was recorded` });
    throw error;
  }
}

// Reads a body up to `limit` bytes; a longer one (announced or streamed) is refused without buffering it.
async function readLimited(req: IncomingMessage, limit: number): Promise<Buffer | 'too large'> {
  if (Number(req.headers['content-length']) > limit) {
    req.resume();
    return 'too large';
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      req.resume();
      return 'too large';
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

// Compares digests, so neither the length nor the content of the token leaks through timing.
function tokensMatch(presented: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

async function healthz(deps: HttpDeps, res: ServerResponse): Promise<void> {
  let state: { kind: string; reachable: boolean; error?: string };
  try {
    await Promise.race([
      deps.store.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${HEALTH_TIMEOUT_MS} ms`)), HEALTH_TIMEOUT_MS).unref()),
    ]);
    state = { kind: deps.store.kind, reachable: true };
  } catch (error) {
    state = { kind: deps.store.kind, reachable: false, error: errorText(error) };
  }
  const slack = deps.slack ? { mode: deps.slack.mode, api: deps.slack.identity() } : { mode: 'off' };
  sendJson(res, state.reachable ? 200 : 503, {
    status: state.reachable ? 'ok' : 'unavailable',
    state,
    slack,
    uptime_s: Math.round((Date.now() - deps.startedAt.getTime()) / 1000),
  });
}

async function metrics(deps: HttpDeps, res: ServerResponse): Promise<void> {
  const body = await deps.metrics.registry.metrics();
  res.writeHead(200, { 'content-type': deps.metrics.registry.contentType });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
