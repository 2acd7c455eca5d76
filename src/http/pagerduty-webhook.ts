import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { PagerDutyEventOutcome, PagerDutyIncidentEvent } from '../alerts/pagerduty-webhook.ts';
import { parsePagerDutyWebhook } from '../alerts/pagerduty-webhook.ts';
import type { Secret } from '../config/secret.ts';
import { DrError, errorText } from '../domain/errors.ts';
import type { StateStore } from '../ports/state-store.ts';
import { readLimited, refuse, sendJson, singleHeader } from './body.ts';

// A v3 webhook carries one event of a few KB.
const MAX_PAGERDUTY_BODY_BYTES = 256 * 1024;
// PagerDuty redelivers an event it could not deliver for a while; its id is remembered longer than that.
const EVENT_ID_KEEP_MS = 24 * 3_600_000;
// A header with more signatures than this is not PagerDuty's (it sends one, two while a secret rotates).
const MAX_SIGNATURES = 10;

/** What POST /webhooks/pagerduty needs. */
export interface PagerDutyWebhookDeps {
  /** PAGERDUTY_WEBHOOK_SECRET; unset, the route answers 503. */
  secret?: Secret | undefined;
  /** Applies a verified event to the alerts; unset when alert routing does not run in this process. */
  takeIn?: (event: PagerDutyIncidentEvent) => Promise<PagerDutyEventOutcome>;
  store: Pick<StateStore, 'rememberRequests' | 'forgetRequest'>;
  logger: Logger;
}

/**
 * PagerDuty webhooks v3 (DESIGN.md §4): `X-PagerDuty-Signature` must hold a `v1=` HMAC-SHA256 (hex) of the raw
 * body under the subscription's secret — one of several while the secret rotates — checked in constant time
 * before anything is parsed. A verified event is taken in once (its id is remembered in the state store, so a
 * redelivery to another replica changes nothing either) and answered 202, whether or not it matched an alert.
 */
export async function pagerDutyWebhook(deps: PagerDutyWebhookDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const logger = deps.logger.child({ component: 'pagerduty-webhook' });
  const reject = (status: number, error: string) => {
    logger.warn({ status, reason: error }, 'PagerDuty webhook refused');
    refuse(req, res, status, { error });
  };
  if (req.method !== 'POST') return reject(405, 'POST only');
  if (!deps.secret) return refuse(req, res, 503, { error: 'PagerDuty webhooks are disabled: PAGERDUTY_WEBHOOK_SECRET is not set' });
  if (!deps.takeIn) return refuse(req, res, 503, { error: 'alert routing is not running in this process; nothing was recorded' });
  if (Number(req.headers['content-length']) > MAX_PAGERDUTY_BODY_BYTES) return reject(413, `body larger than ${MAX_PAGERDUTY_BODY_BYTES} bytes`);
  const header = singleHeader(req, 'x-pagerduty-signature');
  if (!header) return reject(401, 'missing X-PagerDuty-Signature');
  const body = await readLimited(req, MAX_PAGERDUTY_BODY_BYTES);
  if (body === 'too large') return reject(413, `body larger than ${MAX_PAGERDUTY_BODY_BYTES} bytes`);
  if (!signatureMatches(header, body, deps.secret.reveal())) return reject(401, 'bad signature');
  let event: PagerDutyIncidentEvent;
  try {
    event = parsePagerDutyWebhook(JSON.parse(body.toString('utf8')));
  } catch (error) {
    return reject(400, error instanceof DrError ? error.userMessage : 'body is not JSON');
  }
  const key = event.id ? `pagerduty-event:${event.id}` : undefined;
  if (key && !(await deps.store.rememberRequests([key], EVENT_ID_KEEP_MS))[0]) {
    logger.info({ event: event.id, type: event.type }, 'PagerDuty event already taken in; redelivery ignored');
    return sendJson(res, 202, { status: 'accepted', outcome: 'duplicate' });
  }
  let outcome: PagerDutyEventOutcome;
  try {
    outcome = await deps.takeIn(event);
  } catch (error) {
    // Nothing was saved: PagerDuty redelivers, and the redelivery must run.
    if (key) await deps.store.forgetRequest(key).catch((forgetError: unknown) => logger.error({ err: errorText(forgetError) }, 'could not forget a failed PagerDuty event'));
    throw error;
  }
  logger.info({ event: event.id, type: event.type, incident: event.incidentId, outcome }, 'PagerDuty webhook taken in');
  sendJson(res, 202, { status: 'accepted', outcome });
}

/** Whether one of the header's `v1=` values is the hex HMAC-SHA256 of the body under `secret` (constant time). */
export function signatureMatches(header: string, body: Buffer, secret: string): boolean {
  const expected = Buffer.from(createHmac('sha256', secret).update(body).digest('hex'));
  const presented = header.split(',').slice(0, MAX_SIGNATURES).map((value) => value.trim());
  let matched = false;
  for (const value of presented) {
    if (!value.startsWith('v1=')) continue;
    const candidate = Buffer.from(value.slice(3).toLowerCase());
    // Every candidate is compared (no early exit), and only equal lengths can be compared at all.
    if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) matched = true;
  }
  return matched;
}
