/** PagerDuty's four severities (Events API v2 `payload.severity`). */
export type PagerSeverity = 'critical' | 'error' | 'warning' | 'info';

/** A link shown on the PagerDuty alert (Events API v2 `links[]`). */
export interface PagerLink {
  href: string;
  text: string;
}

/** Opens (or re-triggers) the alert identified by `dedupKey`. */
export interface PagerTrigger {
  action: 'trigger';
  /** The alert's fingerprint: acknowledge and resolve must send the same key. */
  dedupKey: string;
  /** At most 1024 characters; the adapter shortens longer text rather than have PagerDuty reject the page. */
  summary: string;
  severity: PagerSeverity;
  /** The affected system, e.g. the DMS name or host. */
  source: string;
  component?: string;
  group?: string;
  class?: string;
  customDetails?: Record<string, unknown>;
  links?: PagerLink[];
  /** ISO 8601 time the problem was detected; worth sending because an outbox may deliver minutes later. */
  timestamp?: string;
}

/** Acknowledges or resolves the alert opened with the same `dedupKey`. */
export interface PagerFollowUp {
  action: 'acknowledge' | 'resolve';
  dedupKey: string;
}

/** One Events API v2 alert event. */
export type PagerEvent = PagerTrigger | PagerFollowUp;

/** What PagerDuty answered when it accepted an event. */
export interface PagerResult {
  /** The key PagerDuty filed the event under (the one sent). */
  dedupKey: string;
}

/** Where critical alerts are paged. Delivery is one attempt per call: retrying is the caller's (outbox's) job. */
export interface Pager {
  /** False when no routing key is set: paging is off and send() refuses. */
  readonly configured: boolean;
  /** Sends one event; resolves once PagerDuty accepted it, otherwise throws a PagerError. */
  send(event: PagerEvent, signal?: AbortSignal): Promise<PagerResult>;
}

/** Options of a PagerError beyond its message. */
export interface PagerErrorOptions {
  /** True when the same event may succeed later (429, 5xx, network, timeout); false when PagerDuty refused it for good. */
  retryable: boolean;
  /** From PagerDuty's Retry-After header, when it sent one. */
  retryAfterMs?: number | undefined;
  /** HTTP status PagerDuty answered with; absent when no answer arrived. */
  status?: number | undefined;
  cause?: unknown;
}

/** Why an event was not delivered; its message never contains the routing key. */
export class PagerError extends Error {
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly status: number | undefined;

  constructor(message: string, options: PagerErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PagerError';
    this.retryable = options.retryable;
    this.retryAfterMs = options.retryAfterMs;
    this.status = options.status;
  }
}
