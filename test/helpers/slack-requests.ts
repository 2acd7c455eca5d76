// Sends signed requests to a running Bolt HTTP receiver the way Slack does (form-encoded, v0 signature).
import { createHmac, randomBytes } from 'node:crypto';
import { request } from 'node:http';

// Every field Slack sends with a slash command, in Slack's order.
export interface SlashFields {
  token: string;
  team_id: string;
  team_domain: string;
  channel_id: string;
  channel_name: string;
  user_id: string;
  user_name: string;
  command: string;
  text: string;
  api_app_id: string;
  is_enterprise_install: string;
  response_url: string;
  trigger_id: string;
}

// Knobs for the edge cases Bolt must handle: stale/future timestamps, forged signatures, Slack retries.
export interface SlackRequestOptions {
  /** Unix seconds for x-slack-request-timestamp (default: now). */
  timestamp?: number;
  /** Sign with a wrong secret so Bolt must answer 401. */
  badSignature?: boolean;
  /** Adds x-slack-retry-num (and x-slack-retry-reason) as Slack does on redelivery. */
  retryNum?: number;
  /** x-slack-retry-reason when retryNum is set (default `http_timeout`). */
  retryReason?: string;
  /** Receiver path (default `/slack/events`, Bolt's default endpoint). */
  path?: string;
}

// What the receiver answered; `ms` is the time until the full response was read, the latency Slack's 3 s clock sees.
export interface SlackHttpResult {
  status: number;
  body: string;
  ms: number;
  headers: Record<string, string | string[] | undefined>;
}

// Slack's v0 request signature, so tests sign exactly what Bolt verifies.
export function slackSignature(signingSecret: string, timestamp: number | string, rawBody: string): string {
  return `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:${rawBody}`).digest('hex')}`;
}

// Defaults for a /dr invocation; response_url points at a closed local port so an unset one fails fast
// instead of reaching hooks.slack.com: pass fake.responseUrl() to observe respond().
export function defaultSlashFields(): SlashFields {
  return {
    token: 'fake-verification-token',
    team_id: 'T0FAKE0001',
    team_domain: 'fake-team',
    channel_id: 'C0OPS00001',
    channel_name: 'ops',
    user_id: 'U0USER0001',
    user_name: 'oncall',
    command: '/dr',
    text: '',
    api_app_id: 'A0FAKEAPP1',
    is_enterprise_install: 'false',
    response_url: 'http://127.0.0.1:9/no-response-url-given',
    trigger_id: fakeTriggerId(),
  };
}

// Slack-shaped trigger_id (`<digits>.<digits>.<hex32>`), unique per request because views.open consumes it.
export function fakeTriggerId(): string {
  const n = () => String(Math.floor(Math.random() * 1e12));
  return `${n()}.${n()}.${randomBytes(16).toString('hex')}`;
}

// POSTs a signed raw body; the building block for slash commands, interactions and Events API JSON.
export function postSigned(
  baseUrl: string,
  signingSecret: string,
  rawBody: string,
  contentType: string,
  opts: SlackRequestOptions = {},
): Promise<SlackHttpResult> {
  const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
  const secret = opts.badSignature ? `${signingSecret}-wrong` : signingSecret;
  const headers: Record<string, string | number> = {
    'content-type': contentType,
    'content-length': Buffer.byteLength(rawBody),
    'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
    'x-slack-request-timestamp': String(timestamp),
    'x-slack-signature': slackSignature(secret, timestamp, rawBody),
  };
  if (opts.retryNum !== undefined) {
    headers['x-slack-retry-num'] = String(opts.retryNum);
    headers['x-slack-retry-reason'] = opts.retryReason ?? 'http_timeout';
  }
  const url = new URL(opts.path ?? '/slack/events', baseUrl);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    // agent:false = one connection per request, so no pooled socket outlives the receiver between tests.
    const req = request(url, { method: 'POST', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          ms: performance.now() - started,
          headers: res.headers,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(rawBody);
  });
}

// Sends a slash command as Slack does: all fields form-encoded, signed, to /slack/events.
export function sendSlashCommand(
  baseUrl: string,
  signingSecret: string,
  fields: Partial<SlashFields> & { text: string },
  opts: SlackRequestOptions = {},
): Promise<SlackHttpResult> {
  const all: SlashFields = { ...defaultSlashFields(), ...fields };
  const rawBody = new URLSearchParams(Object.entries(all)).toString();
  return postSigned(baseUrl, signingSecret, rawBody, 'application/x-www-form-urlencoded', opts);
}

// Sends block_actions / view_submission / shortcut payloads as Slack does: `payload=<urlencoded JSON>`.
export function sendInteraction(
  baseUrl: string,
  signingSecret: string,
  payload: object,
  opts: SlackRequestOptions = {},
): Promise<SlackHttpResult> {
  const rawBody = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  return postSigned(baseUrl, signingSecret, rawBody, 'application/x-www-form-urlencoded', opts);
}
