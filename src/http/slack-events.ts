import { createHash, createHmac } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import type { Logger } from 'pino';
import { errorText } from '../domain/errors.ts';
import type { StateStore } from '../ports/state-store.ts';
import { readLimited, refuse, sameSecret, singleHeader } from './body.ts';

/** Slack's own payloads are a few KB (a modal submission with every field filled is far below this). */
export const MAX_SLACK_BODY_BYTES = 256 * 1024;
// Slack's signature is valid for five minutes after its timestamp (Bolt refuses older ones too).
const MAX_AGE_S = 5 * 60;
// Slack's clock and ours agree to within seconds; a timestamp further ahead was made to outlive the window.
const MAX_FUTURE_S = 60;
/**
 * How long a seen request is remembered: longer than any signature stays valid (five minutes after a timestamp
 * that may be a minute ahead), with room for clock skew between replicas.
 */
export const REPLAY_WINDOW_MS = (MAX_AGE_S + MAX_FUTURE_S + 60) * 1_000;
// An unsigned request may only be Slack's ssl_check (`ssl_check=1&token=…`): a few bytes.
const MAX_UNSIGNED_BYTES = 1024;

/** What guarding the Slack endpoint needs. */
export interface SlackGuardDeps {
  signingSecret: string;
  store: Pick<StateStore, 'rememberRequests'>;
  logger: Logger;
  now?: () => number;
}

/** Bolt's request listener, handed a request whose body is already read (`rawBody`), so Bolt does not read it again. */
export type BufferedListener = (req: IncomingMessage & { rawBody?: Buffer }, res: ServerResponse) => void;

/**
 * POST /slack/events, in front of Bolt: refuses what Bolt would mishandle (DESIGN.md §4; issue: a signed body
 * that parses to null crashed the process) and what it does not check (timestamps in the future, replays).
 * Headers are checked before the body is read, so an unsigned or stale request costs no memory; the body is
 * read up to 256 KB and its signature verified; only a JSON object (or form fields whose `payload` is one)
 * reaches Bolt. A signature seen before, or a Slack retry of an event already taken in, gets its 200 and runs
 * nothing: the record lives in the state store, so it holds across replicas.
 */
export async function guardSlackEvents(deps: SlackGuardDeps, req: IncomingMessage, res: ServerResponse, listener: BufferedListener): Promise<void> {
  if (req.method !== 'POST') return refuse(req, res, 405, { error: 'POST only' });
  const length = Number(req.headers['content-length']);
  if (req.headers['content-length'] === undefined || !Number.isFinite(length)) return refuse(req, res, 411, { error: 'Content-Length required' });
  if (length > MAX_SLACK_BODY_BYTES) return refuse(req, res, 413, { error: `body larger than ${MAX_SLACK_BODY_BYTES} bytes` });
  const signature = singleHeader(req, 'x-slack-signature');
  const timestampText = singleHeader(req, 'x-slack-request-timestamp');
  if (signature === undefined || timestampText === undefined) return unsigned(deps, req, res, listener);
  const timestamp = Number(timestampText);
  const nowS = (deps.now?.() ?? Date.now()) / 1000;
  if (!/^\d{1,12}$/.test(timestampText) || timestamp < nowS - MAX_AGE_S || timestamp > nowS + MAX_FUTURE_S) {
    deps.logger.warn({ timestamp: timestampText.slice(0, 20), skewS: Math.round(timestamp - nowS) }, 'Slack request refused: timestamp outside the signature window');
    return refuse(req, res, 401, { error: 'request timestamp outside the allowed window' });
  }
  const body = await readLimited(req, MAX_SLACK_BODY_BYTES);
  if (body === 'too large') return refuse(req, res, 413, { error: `body larger than ${MAX_SLACK_BODY_BYTES} bytes` });
  const expected = `v0=${createHmac('sha256', deps.signingSecret).update(`v0:${timestampText}:`).update(body).digest('hex')}`;
  if (!sameSecret(signature, expected)) {
    deps.logger.warn('Slack request refused: bad signature');
    return refuse(req, res, 401, { error: 'bad signature' });
  }
  const parsed = parseSlackBody(body, req.headers['content-type']);
  if (typeof parsed === 'string') {
    deps.logger.warn({ reason: parsed }, 'signed Slack request refused: malformed body');
    return refuse(req, res, 400, { error: parsed });
  }
  if (await alreadySeen(deps, req, body, signature, parsed)) {
    res.writeHead(200).end();
    return;
  }
  listener(Object.assign(req, { rawBody: body }), res);
}

/**
 * What Bolt will parse, parsed the same way: a form whose `payload` field is JSON (interactivity), a plain form
 * (slash commands), or a JSON body (Events API). A string says why it is refused.
 */
export function parseSlackBody(body: Buffer, contentType: string | undefined): Record<string, unknown> | string {
  const text = body.toString('utf8');
  let value: unknown;
  try {
    if (contentType === 'application/x-www-form-urlencoded') {
      const fields = parseQuery(text);
      if (fields.payload === undefined) return { ...fields };
      if (typeof fields.payload !== 'string') return 'the payload field is given more than once';
      value = JSON.parse(fields.payload);
    } else {
      value = JSON.parse(text);
    }
  } catch {
    return contentType === 'application/x-www-form-urlencoded' ? 'the payload field is not JSON' : 'body is not JSON (or not form-encoded with Content-Type application/x-www-form-urlencoded)';
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return `expected a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`;
  return value as Record<string, unknown>;
}

// Slack's ssl_check carries no signature; Bolt strips anything else from it. Anything else unsigned is refused
// before its body is read.
async function unsigned(deps: SlackGuardDeps, req: IncomingMessage, res: ServerResponse, listener: BufferedListener): Promise<void> {
  if (req.headers['content-type'] !== 'application/x-www-form-urlencoded' || Number(req.headers['content-length']) > MAX_UNSIGNED_BYTES) {
    return refuse(req, res, 401, { error: 'missing Slack signature' });
  }
  const body = await readLimited(req, MAX_UNSIGNED_BYTES);
  if (body === 'too large' || parseQuery(body.toString('utf8')).ssl_check !== '1') return refuse(req, res, 401, { error: 'missing Slack signature' });
  deps.logger.debug('Slack ssl_check');
  listener(Object.assign(req, { rawBody: Buffer.from('ssl_check=1') }), res);
}

/**
 * Records the request's signature (and, for a Slack retry, what identifies the original delivery) and says
 * whether it was taken in before. A store that cannot answer lets the request through, logged: every command
 * then fails on the same store anyway, and a destructive plan still runs at most once (its gate is a
 * compare-and-set in that store), while refusing would also silence `/dr status` during a state-store outage.
 */
async function alreadySeen(deps: SlackGuardDeps, req: IncomingMessage, body: Buffer, signature: string, parsed: Record<string, unknown>): Promise<boolean> {
  const retryNum = singleHeader(req, 'x-slack-retry-num');
  // A retry of an Events API delivery carries the same event_id (and the same body) under a new signature.
  const delivery = typeof parsed.event_id === 'string' ? `slack-event:${parsed.event_id}` : `slack-body:${createHash('sha256').update(body).digest('hex')}`;
  try {
    const [fresh, firstDelivery] = await deps.store.rememberRequests([`slack-signature:${signature}`, delivery], REPLAY_WINDOW_MS);
    if (!fresh) {
      deps.logger.warn({ retryNum }, 'replayed Slack request ignored: this signature was already taken in');
      return true;
    }
    if (retryNum !== undefined && !firstDelivery) {
      deps.logger.info({ retryNum, reason: singleHeader(req, 'x-slack-retry-reason') }, 'Slack retry of a request already taken in: answered, not run again');
      return true;
    }
    return false;
  } catch (error) {
    deps.logger.error({ err: errorText(error) }, 'could not record the Slack request against replays (state store); handling it anyway');
    return false;
  }
}
