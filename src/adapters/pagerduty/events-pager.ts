import diagnostics from 'node:diagnostics_channel';
import type { IncomingHttpHeaders } from 'node:http';
import { Agent } from 'node:https';
import { event as sendPagerDutyEvent } from '@pagerduty/pdjs';
import type { Secret } from '../../config/secret.ts';
import { DrError } from '../../domain/errors.ts';
import { PagerError, type Pager, type PagerEvent, type PagerResult } from '../../ports/pager.ts';

/** PagerDuty's own Events API v2 host, used when PAGERDUTY_EVENTS_URL is unset. */
export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com';

/** How long one attempt may take before it counts as failed (and retryable). */
export const DEFAULT_PAGER_TIMEOUT_MS = 10_000;

/** PagerDuty rejects a longer `payload.summary` with a 400, which would lose the page. */
const SUMMARY_MAX = 1024;

// pdjs's index exports only functions; its parameter types are reached through them.
type EventParameters = Parameters<typeof sendPagerDutyEvent>[0];
type EventPayloadV2 = EventParameters['data'];

// Node publishes every HTTP client response here before the request's 'response' event (public API since 16.17).
const RESPONSE_CHANNEL = 'http.client.response.finish';

/** Settings of the Events API v2 pager. */
export interface EventsPagerOptions {
  /** PAGERDUTY_ROUTING_KEY; undefined leaves the pager unconfigured. */
  routingKey: Secret | undefined;
  /** PAGERDUTY_EVENTS_URL: an https origin such as https://127.0.0.1:8443 (default PagerDuty's own). */
  eventsUrl?: string | undefined;
  /** Per-attempt limit in ms (default 10 s). */
  timeoutMs?: number | undefined;
  /**
   * PEM of the only CA(s) to trust for the Events API host, for a private CA in tests.
   * Production leaves it unset: Node's trust store applies, extended by NODE_EXTRA_CA_CERTS (DESIGN.md §4).
   */
  ca?: string | Buffer | undefined;
}

/** What the one HTTP response looked like, seen before pdjs could act on it. */
interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
}

/**
 * Pager over PagerDuty's Events API v2 through pdjs `event()`, one HTTP request per send().
 * pdjs 2.2.4 resends a 429 up to three times, 20 s apart, and ignores `retryCount`; a durable outbox must see
 * the 429 (and its Retry-After) at once instead, so each send watches its own response and cuts pdjs's retry off.
 */
export class EventsPager implements Pager {
  readonly configured: boolean;
  readonly #routingKey: Secret | undefined;
  readonly #server: string;
  readonly #timeoutMs: number;
  readonly #ca: string | Buffer | undefined;

  constructor(options: EventsPagerOptions) {
    this.#routingKey = options.routingKey;
    this.configured = options.routingKey !== undefined && options.routingKey.reveal() !== '';
    this.#server = eventsServer(options.eventsUrl ?? PAGERDUTY_EVENTS_URL);
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_PAGER_TIMEOUT_MS;
    this.#ca = options.ca;
  }

  /** Sends one event in exactly one HTTP request; throws PagerError (retryable or not) on any failure. */
  async send(event: PagerEvent, signal?: AbortSignal): Promise<PagerResult> {
    const routingKey = this.#routingKey?.reveal();
    if (!this.configured || routingKey === undefined) {
      throw new PagerError('PagerDuty is not configured: set PAGERDUTY_ROUTING_KEY to page on critical alerts', { retryable: false });
    }
    if (signal?.aborted) throw new PagerError('PagerDuty send was cancelled before it started', { retryable: true, cause: signal.reason });

    const redact = (text: string) => text.split(routingKey).join('[routing key]');
    const stop = new AbortController();
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const combined = AbortSignal.any(signal ? [stop.signal, timeout, signal] : [stop.signal, timeout]);
    // An agent per send: it identifies this send's request among all HTTP traffic in the process.
    const agent = new Agent({ keepAlive: false, ...(this.#ca !== undefined ? { ca: this.#ca } : {}) });
    let answer: Answer | undefined;
    let attempts = 0;

    const onResponse = (message: unknown) => {
      if (answer !== undefined || !isResponseMessage(message) || message.request.agent !== agent) return;
      answer = { status: message.response.statusCode ?? 0, headers: message.response.headers };
      // pdjs would now wait 20 s and resend; aborting here makes its first fetch reject instead.
      if (answer.status === 429) stop.abort();
    };

    const parameters: EventParameters & { agent: () => Agent; redirect: 'manual' } = {
      server: this.#server,
      data: toPayload(event, routingKey),
      signal: combined,
      // pdjs's requestTimeout only arms a timer that aborts nothing and keeps the process alive; 0 disables it.
      requestTimeout: 0,
      retryTimeout: 0,
      // node-fetch asks for the agent once per request it is about to send (redirects are not followed): a
      // second ask is pdjs retrying, refused here so that a 429 missed above still cannot become hidden resends.
      agent: () => {
        attempts += 1;
        if (attempts > 1) stop.abort();
        return agent;
      },
      redirect: 'manual',
    };

    diagnostics.subscribe(RESPONSE_CHANNEL, onResponse);
    try {
      const response = await sendPagerDutyEvent(parameters);
      return interpret(event, { status: response.status, headers: answer?.headers ?? {} }, response.data, redact);
    } catch (error) {
      if (error instanceof PagerError) throw error;
      // A 2xx whose body could not be read was still accepted; anything else with an answer is judged by its status.
      if (answer !== undefined) return interpret(event, answer, undefined, redact, error);
      if (attempts > 1) throw rateLimited(undefined, error);
      if (signal?.aborted) throw new PagerError('PagerDuty send was cancelled', { retryable: true, cause: signal.reason });
      if (timeout.aborted) {
        throw new PagerError(`PagerDuty did not answer within ${this.#timeoutMs} ms (${this.#server})`, { retryable: true, cause: error });
      }
      // Transport failures stay retryable, certificate ones included: fixing the trust store must not have lost the page.
      const reason = redact(networkReason(error));
      const hint = /CERT|SIGNATURE|SELF_SIGNED|certificate/.test(reason) ? ' (is its CA in NODE_EXTRA_CA_CERTS?)' : '';
      throw new PagerError(`Could not reach PagerDuty at ${this.#server}: ${reason}${hint}`, { retryable: true, cause: error });
    } finally {
      diagnostics.unsubscribe(RESPONSE_CHANNEL, onResponse);
      agent.destroy();
    }
  }
}

/** host[:port] for pdjs, which always speaks https to `https://${server}/v2/enqueue`. */
function eventsServer(eventsUrl: string): string {
  let url: URL;
  try {
    url = new URL(eventsUrl);
  } catch {
    throw new DrError('CONFIG_INVALID', `PAGERDUTY_EVENTS_URL: not a URL: ${JSON.stringify(eventsUrl)}`);
  }
  if (url.protocol !== 'https:') {
    throw new DrError('CONFIG_INVALID', `PAGERDUTY_EVENTS_URL: PagerDuty events go over https only, got ${url.protocol}//${url.host}`);
  }
  // pdjs appends /v2/enqueue to the host alone: a path, query or credentials would be silently dropped.
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.username !== '' || url.password !== '') {
    throw new DrError('CONFIG_INVALID', `PAGERDUTY_EVENTS_URL: expected an origin such as https://events.pagerduty.com, got ${url.origin}${url.pathname}`);
  }
  return url.host;
}

function toPayload(event: PagerEvent, routingKey: string): EventPayloadV2 {
  if (event.action !== 'trigger') {
    // pdjs types `payload` as required; PagerDuty ignores it on acknowledge/resolve, so it is left out of the wire body.
    return { routing_key: routingKey, event_action: event.action, dedup_key: event.dedupKey } as EventPayloadV2;
  }
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: event.dedupKey,
    payload: {
      summary: shorten(event.summary, SUMMARY_MAX),
      source: event.source,
      severity: event.severity,
      ...(event.timestamp !== undefined ? { timestamp: event.timestamp } : {}),
      ...(event.component !== undefined ? { component: event.component } : {}),
      ...(event.group !== undefined ? { group: event.group } : {}),
      ...(event.class !== undefined ? { class: event.class } : {}),
      ...(event.customDetails !== undefined ? { custom_details: event.customDetails } : {}),
    },
    ...(event.links !== undefined ? { links: event.links.map((link) => ({ href: link.href, text: link.text })) } : {}),
  };
}

function shorten(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, max - 1);
  // Never leave half of a surrogate pair at the end.
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/** Turns PagerDuty's answer into a result or a PagerError, per its documented retry table. */
function interpret(event: PagerEvent, answer: Answer, body: unknown, redact: (text: string) => string, cause?: unknown): PagerResult {
  const { status } = answer;
  if (status >= 200 && status < 300) {
    const dedupKey = isRecord(body) && typeof body.dedup_key === 'string' ? body.dedup_key : event.dedupKey;
    return { dedupKey };
  }
  if (status === 429) throw rateLimited(retryAfterMs(answer.headers['retry-after']), cause);
  const said = redact(describeBody(body));
  if (status >= 500 || status === 408) {
    const retryAfter = retryAfterMs(answer.headers['retry-after']);
    throw new PagerError(`PagerDuty answered ${status}${said ? `: ${said}` : ''}; try again later`, { retryable: true, status, retryAfterMs: retryAfter, cause });
  }
  if (status === 400) {
    throw new PagerError(`PagerDuty rejected the event${said ? `: ${said}` : ' (400)'}`, { retryable: false, status, cause });
  }
  throw new PagerError(`PagerDuty refused the event with ${status}${said ? `: ${said}` : ''}`, { retryable: false, status, cause });
}

function rateLimited(retryAfter: number | undefined, cause: unknown): PagerError {
  const after = retryAfter !== undefined ? `; retry after ${Math.ceil(retryAfter / 1000)} s` : '';
  return new PagerError(`PagerDuty is rate limiting this integration (429)${after}`, { retryable: true, status: 429, retryAfterMs: retryAfter, cause });
}

/** Retry-After as delay-seconds or an HTTP date, in ms from now. */
function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** PagerDuty's `message` and `errors[]` (its 400 shape), or nothing for a body that is not that. */
function describeBody(body: unknown): string {
  if (!isRecord(body)) return '';
  const message = typeof body.message === 'string' ? body.message : '';
  const errors = Array.isArray(body.errors) ? body.errors.filter((item): item is string => typeof item === 'string') : [];
  return [message, errors.join('; ')].filter((part) => part !== '').join(': ');
}

/** The lowest-level reason of a fetch failure: `connect ECONNREFUSED …`, a certificate error, and so on. */
function networkReason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // node-fetch wraps the socket error as "request to URL failed, reason: …"; the inner code says more.
  const reason = /reason: (.*)$/s.exec(error.message)?.[1] ?? error.message;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && !reason.includes(code) ? `${code}: ${reason}` : reason;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The shape Node publishes on `http.client.response.finish`; `request.agent` is the agent it was sent through. */
function isResponseMessage(message: unknown): message is { request: { agent?: unknown }; response: { statusCode?: number; headers: IncomingHttpHeaders } } {
  return isRecord(message) && isRecord(message.request) && isRecord(message.response);
}
