import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Secret } from '../config/secret.ts';
import { DrError, errorText } from '../domain/errors.ts';
import type { BotMetrics } from '../observability/metrics.ts';
import type { StateStore } from '../ports/state-store.ts';
import type { SlackSurface } from '../slack/app.ts';
import type { StateHealth } from '../alerts/state-health.ts';
import { readLimited, refuse, sameSecret, sendJson } from './body.ts';
import { guardSlackEvents } from './slack-events.ts';
import { pagerDutyWebhook, type PagerDutyWebhookDeps } from './pagerduty-webhook.ts';

// One alert of POST /alerts is far below 1 MB; bigger bodies are refused.
const MAX_ALERT_BODY_BYTES = 1024 * 1024;
// An Alertmanager alert is 0.5–1.5 KB: a storm of ALERT_LIMITS.alertsPerWebhook (10,000) alerts must fit in one webhook.
const MAX_ALERTMANAGER_BODY_BYTES = 16 * 1024 * 1024;
const HEALTH_TIMEOUT_MS = 2_000;
// Connection limits (a flood of slow or large requests must not exhaust memory or sockets): Slack, Alertmanager
// and PagerDuty together never hold anywhere near this many connections open.
const MAX_CONNECTIONS = 256;
// Headers must arrive within this long, and the whole request within REQUEST_TIMEOUT_MS (a 1 MB alert batch
// takes well under a second on any link Alertmanager uses).
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

/** What the HTTP listener serves: Slack's endpoint, the bot's health and its metrics. */
export interface HttpDeps {
  store: StateStore;
  metrics: BotMetrics;
  slack: SlackSurface | undefined;
  /** SLACK_SIGNING_SECRET: every request to /slack/events is verified against it before Bolt sees it. */
  slackSigningSecret?: Secret | undefined;
  /** PAGERDUTY_WEBHOOK_SECRET and what takes the verified events in; unset, /webhooks/pagerduty answers 503. */
  pagerDuty?: Omit<PagerDutyWebhookDeps, 'logger' | 'store'>;
  /** DR_ALERT_TOKEN; unset, the /alerts routes answer 503. */
  alertToken: Secret | undefined;
  /** Validates a webhook body and takes its alerts in (state and outbox persisted before it resolves). */
  takeInAlerts?: (format: 'alertmanager' | 'alert', body: unknown) => Promise<{ accepted: number; changed: number }>;
  logger: Logger;
  startedAt: Date;
  /** The state-store health monitor's verdict: a store that answers but is broken (deleted, corrupt, unwritable) makes /healthz 503. */
  stateHealth?: () => StateHealth;
}

/** The one HTTP listener (DESIGN.md §4 routes); Bolt's receiver is mounted on POST /slack/events, behind a guard. */
export function createHttpServer(deps: HttpDeps): Server {
  const server = createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS }, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = `${req.method} ${url.pathname}`;
    const handle = async () => {
      if (route === 'GET /healthz') return healthz(deps, res);
      if (route === 'GET /metrics') return metrics(deps, res);
      if (url.pathname === '/slack/events' && deps.slack?.requestListener) return slackEvents(deps, req, res, deps.slack.requestListener);
      if (url.pathname === '/alerts' || url.pathname === '/alerts/alertmanager') return alerts(deps, req, res, url.pathname === '/alerts' ? 'alert' : 'alertmanager');
      if (url.pathname === '/webhooks/pagerduty') return pagerDutyWebhook({ ...deps.pagerDuty, store: deps.store, logger: deps.logger }, req, res);
      return refuse(req, res, 404, { error: `no route for ${req.method} ${url.pathname}` });
    };
    handle().catch((error) => {
      deps.logger.error({ err: errorText(error), route }, 'HTTP handler failed');
      if (!res.headersSent) refuse(req, res, 500, { error: 'internal error' });
      else res.end();
    });
  });
  server.maxConnections = MAX_CONNECTIONS;
  return server;
}

async function slackEvents(deps: HttpDeps, req: IncomingMessage, res: ServerResponse, listener: NonNullable<SlackSurface['requestListener']>): Promise<void> {
  if (!deps.slackSigningSecret) return refuse(req, res, 503, { error: 'SLACK_SIGNING_SECRET is not set' });
  const started = performance.now();
  // With processBeforeResponse off, Bolt answers at ack(): the response finishing is the ack.
  res.once('finish', () => deps.metrics.ackSeconds.observe({ surface: 'slack' }, (performance.now() - started) / 1000));
  await guardSlackEvents({ signingSecret: deps.slackSigningSecret.reveal(), store: deps.store, logger: deps.logger.child({ component: 'slack-guard' }) }, req, res, listener);
}

// Alert ingestion (DESIGN.md §4): refused outright until DR_ALERT_TOKEN is set, then bearer-authenticated,
// size-limited and schema-validated; 202 only once the alerts and their notifications are persisted.
async function alerts(deps: HttpDeps, req: IncomingMessage, res: ServerResponse, format: 'alertmanager' | 'alert'): Promise<void> {
  if (req.method !== 'POST') return refuse(req, res, 405, { error: 'POST only' });
  if (!deps.alertToken) return refuse(req, res, 503, { error: 'alert ingestion is disabled: DR_ALERT_TOKEN is not set' });
  const presented = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
  // Rejections are logged with the reason and never the body: it may be hostile, or huge.
  const rejected = (status: number, reason: string) => deps.logger.warn({ route: format === 'alert' ? '/alerts' : '/alerts/alertmanager', status, reason }, 'alert webhook rejected');
  if (!sameSecret(presented, deps.alertToken.reveal())) {
    rejected(401, presented ? 'wrong bearer token' : 'no bearer token');
    return refuse(req, res, 401, { error: 'missing or wrong bearer token' });
  }
  if (!deps.takeInAlerts) return refuse(req, res, 503, { error: 'alert routing is not running in this process; nothing was recorded' });
  // 202 would promise the alert is kept; a broken store cannot keep it. The sender retries later.
  const health = deps.stateHealth?.();
  if (health && !health.healthy) return refuse(req, res, 503, { error: `the bot's state store is broken (${health.reason}); nothing was recorded` });
  const limit = format === 'alertmanager' ? MAX_ALERTMANAGER_BODY_BYTES : MAX_ALERT_BODY_BYTES;
  const body = await readLimited(req, limit);
  if (body === 'too large') {
    rejected(413, `body larger than ${limit} bytes`);
    return refuse(req, res, 413, { error: `body larger than ${limit} bytes; nothing was recorded` });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    rejected(400, 'body is not JSON');
    return sendJson(res, 400, { error: 'body is not JSON; nothing was recorded' });
  }
  try {
    const result = await deps.takeInAlerts(format, parsed);
    sendJson(res, 202, { status: 'accepted', ...result });
  } catch (error) {
    if (error instanceof DrError && error.code === 'ALERT_INVALID') {
      // The parser's messages name the field and the problem and never echo values (see alerts/ingest.ts).
      rejected(400, error.userMessage);
      return sendJson(res, 400, { error: `${error.userMessage}; nothing was recorded` });
    }
    throw error;
  }
}

async function healthz(deps: HttpDeps, res: ServerResponse): Promise<void> {
  let state: { kind: string; reachable: boolean; healthy: boolean; error?: string; since?: string; checked_at?: string };
  try {
    await Promise.race([
      deps.store.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${HEALTH_TIMEOUT_MS} ms`)), HEALTH_TIMEOUT_MS).unref()),
    ]);
    state = { kind: deps.store.kind, reachable: true, healthy: true };
  } catch (error) {
    state = { kind: deps.store.kind, reachable: false, healthy: false, error: errorText(error) };
  }
  // A store can answer and still be broken: the monitor's verdict (file, integrity, a write) counts too.
  const monitor = deps.stateHealth?.();
  if (monitor) {
    state = { ...state, healthy: state.healthy && monitor.healthy, ...(monitor.checkedAt ? { checked_at: monitor.checkedAt } : {}) };
    if (!monitor.healthy) state = { ...state, error: state.error ?? monitor.reason ?? 'unhealthy', since: monitor.since };
  }
  const slack = deps.slack ? { mode: deps.slack.mode, api: deps.slack.identity() } : { mode: 'off' };
  sendJson(res, state.healthy ? 200 : 503, {
    status: state.healthy ? 'ok' : 'unavailable',
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
