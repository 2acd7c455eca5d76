// Alert storms as Alertmanager sends them (webhook payload version 4), and what a test reads back from a bot's
// state and the two SaaS fakes to tell whether every alert arrived once, and how fast a page went out.
import type { StateStore } from '../../src/ports/state-store.ts';
import type { SlackFake } from '../fakes/slack-api.ts';

/** One alert of a storm: a disk-full alert of one host, shaped as Alertmanager 0.25 sends it. */
export function stormAlert(prefix: string, index: number, status: 'firing' | 'resolved' = 'firing', severity = 'critical'): Record<string, unknown> {
  const host = `${prefix}-host-${String(index).padStart(5, '0')}`;
  return {
    status,
    labels: { alertname: `${prefix}_disk_full`, severity, instance: `${host}:9100`, device: '/dev/sda1', mountpoint: '/var/lib/dms', fstype: 'ext4', job: 'node' },
    annotations: { summary: `Disk of ${host} is 97 % full`, description: `The filesystem /var/lib/dms on ${host} has less than 3 % space left.` },
    startsAt: '2026-12-03T18:00:00.000Z',
    endsAt: status === 'resolved' ? '2026-12-03T18:30:00.000Z' : '0001-01-01T00:00:00Z',
    generatorURL: `http://prometheus.internal:9090/graph?g0.expr=node_filesystem_avail_bytes%7Binstance%3D%22${host}%22%7D&g0.tab=1`,
    // Alertmanager's fingerprints are 16 hex digits; the prefix keeps two storms apart.
    fingerprint: `${Buffer.from(prefix).toString('hex').slice(0, 6).padStart(6, '0')}${index.toString(16).padStart(10, '0')}`,
  };
}

/** The groupKey Alertmanager gives a storm of `stormAlert(prefix, …)` grouped by alertname. */
export function stormGroupKey(prefix: string): string {
  return `{}:{alertname="${prefix}_disk_full"}`;
}

/** A webhook carrying `count` storm alerts of one group, as one JSON body. */
export function stormWebhook(prefix: string, count: number, status: 'firing' | 'resolved' = 'firing'): string {
  const alerts = Array.from({ length: count }, (_, i) => stormAlert(prefix, i, status));
  return JSON.stringify({
    version: '4',
    groupKey: stormGroupKey(prefix),
    truncatedAlerts: 0,
    status,
    receiver: 'dr-bot',
    groupLabels: { alertname: `${prefix}_disk_full` },
    commonLabels: { alertname: `${prefix}_disk_full`, severity: 'critical', job: 'node' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager.internal:9093',
    alerts,
  });
}

/** POSTs a body to one of the bot's alert routes with the bearer token; answers status and milliseconds. */
export async function postAlerts(url: string, token: string, route: '/alerts' | '/alerts/alertmanager', body: string): Promise<{ status: number; ms: number; at: number }> {
  const started = performance.now();
  const response = await fetch(`${url}${route}`, { method: 'POST', body, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });
  await response.arrayBuffer();
  return { status: response.status, ms: performance.now() - started, at: Date.now() };
}

/**
 * How often each alert was shown in a channel (its own top-level post, or a line of a digest), by
 * fingerprint, read from the Slack fake's successful posts, their metadata and the bot's digest records.
 */
export async function shownInChannel(slack: SlackFake, store: StateStore, channel: string): Promise<{ shown: Map<string, number>; digests: number; posts: number }> {
  const shown = new Map<string, number>();
  let digests = 0;
  let posts = 0;
  for (const call of slack.calls.filter((c) => c.method === 'chat.postMessage' && !c.failed && c.body.channel === channel && !c.body.thread_ts)) {
    posts += 1;
    const digest = await store.getDigest(channel, (call.response as { ts: string }).ts);
    const raw = call.body.metadata;
    const metadata = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { event_type?: string; event_payload?: { fingerprint?: string } } | undefined;
    const members = digest ?? (metadata?.event_type === 'dr_alert' && metadata.event_payload?.fingerprint ? [metadata.event_payload.fingerprint] : []);
    if (digest) digests += 1;
    for (const fp of members) shown.set(fp, (shown.get(fp) ?? 0) + 1);
  }
  return { shown, digests, posts };
}
