import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import type { AlertRecord, OutboxMessage, OutboxPayload } from '../domain/alert.ts';
import { errorText } from '../domain/errors.ts';
import type { DeliveryOutcome, OutboxDeliverer } from '../alerts/outbox-worker.ts';
import type { StateStore } from '../ports/state-store.ts';
import { mention } from '../render/mrkdwn.ts';
import { alertBlocks, digestBlocks, type AlertContacts } from './render/alert.ts';
import { incidentBlocks } from './render/incident.ts';
import { checklistBlocks } from './render/checklist.ts';

/** What the Slack side of the outbox needs. */
export interface SlackAlertDeliveryDeps {
  /** A client that does not retry on its own: the outbox owns retries and Retry-After. */
  client: WebClient;
  store: StateStore;
  contacts: AlertContacts & { management?: string };
  stakeholdersChannel: string;
  logger: Logger;
  /** Posts per channel at most this often (Slack's guidance: about one message per second per channel). */
  minIntervalMs?: number;
  /** More new alerts than this for one channel in one batch become one digest message. */
  digestThreshold?: number;
}

// Slack's answers for a message that no longer exists (deleted by someone): it is posted again.
const GONE = new Set(['message_not_found', 'cant_update_message']);

// Slack errors that retrying cannot fix: the message is given up on after a few attempts and reported.
const PERMANENT = new Set(['channel_not_found', 'not_in_channel', 'is_archived', 'invalid_blocks', 'msg_too_long', 'invalid_auth', 'account_inactive', 'missing_scope', 'restricted_action']);

/**
 * Delivers alert notifications to Slack: one message per alert, edited in place on every change; a burst
 * for one channel becomes one digest message (edited in place too); posts are paced per channel; a 429
 * defers the channel's remaining messages by Retry-After.
 */
export function slackAlertDeliverer(deps: SlackAlertDeliveryDeps): OutboxDeliverer {
  // A little over a second, so network jitter can never put two posts of one channel inside the same second.
  const minInterval = deps.minIntervalMs ?? 1_050;
  const digestThreshold = deps.digestThreshold ?? 3;
  const lastSend = new Map<string, number>();
  const pace = async (channel: string) => {
    const wait = (lastSend.get(channel) ?? 0) + minInterval - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    lastSend.set(channel, Date.now());
  };

  const deliverChannel = async (channel: string, messages: readonly AlertMessage[], report: (outcome: DeliveryOutcome) => Promise<void>): Promise<void> => {
    // Each outcome is settled as soon as it is known: a crash re-sends only what was in flight.
    const alerts = new Map((await deps.store.getAlerts([...new Set(messages.map((m) => m.payload.fingerprint))])).map((a) => [a.fingerprint, a]));
    // One lookup for the batch: a storm's digest brings thousands of alerts at once.
    const existing = new Map<string, string | undefined>(await deps.store.alertMessages(messages.map((m) => m.payload.fingerprint), channel));
    // A post whose deliverer died mid-way may have reached Slack: find it by its metadata instead of posting twice.
    const uncertain = messages.filter((m) => m.retaken && m.payload.kind === 'slack_alert' && !existing.get(m.payload.fingerprint));
    if (uncertain.length > 0) {
      const { found, digests } = await findPosted(deps.client, channel, new Set(uncertain.map((m) => m.payload.fingerprint)));
      // A digest whose post got through but whose record did not is recorded now, or its later edits would list nothing.
      for (const [ts, members] of digests) if (!(await deps.store.getDigest(channel, ts))) await deps.store.saveDigest(channel, ts, members);
      const byTs = new Map<string, string[]>();
      for (const [fingerprint, ts] of found) {
        (byTs.get(ts) ?? byTs.set(ts, []).get(ts)!).push(fingerprint);
        existing.set(fingerprint, ts);
      }
      for (const [ts, fingerprints] of byTs) await deps.store.setAlertMessages(fingerprints, channel, ts);
    }
    let deferredMs: number | undefined;
    const attempt = async (ids: number[], send: () => Promise<void>) => {
      if (deferredMs !== undefined) {
        for (const id of ids) await report({ id, delivered: false, error: 'rate limited (deferred)', retryAfterMs: deferredMs });
        return;
      }
      try {
        await pace(channel);
        await send();
        // Reported together, so a digest's thousands of messages are settled in a few writes.
        await Promise.all(ids.map((id) => report({ id, delivered: true })));
      } catch (error) {
        const failure = classify(error);
        if (failure.retryAfterMs !== undefined) deferredMs = failure.retryAfterMs;
        await Promise.all(ids.map((id) => report({ id, delivered: false, ...failure })));
      }
    };

    const newAlerts = messages.filter((m) => m.payload.kind === 'slack_alert' && !existing.get(m.payload.fingerprint));
    const isNew = new Set(newAlerts);
    const rest = messages.filter((m) => !isNew.has(m));
    if (newAlerts.length > digestThreshold) {
      const fingerprints = [...new Set(newAlerts.map((m) => m.payload.fingerprint))];
      await attempt(newAlerts.map((m) => m.id), async () => {
        const answer = await deps.client.chat.postMessage({ channel, ...digestBlocks(fingerprints.map((fp) => alerts.get(fp)!).filter(Boolean)), metadata: { event_type: 'dr_alert_digest', event_payload: { fingerprints: fingerprints.join(',') } } });
        await deps.store.saveDigest(channel, answer.ts!, fingerprints);
        await deps.store.setAlertMessages(fingerprints, channel, `digest:${answer.ts}`);
        for (const fp of fingerprints) existing.set(fp, `digest:${answer.ts}`);
      });
    } else {
      rest.unshift(...newAlerts);
      rest.sort((a, b) => a.id - b.id);
    }

    // Several changes to alerts of one digest are one edit of the digest.
    const digestEdits = new Map<string, number[]>();
    for (const message of rest) {
      const alert = alerts.get(message.payload.fingerprint);
      if (!alert) {
        await report({ id: message.id, delivered: true });
        continue;
      }
      const ts = existing.get(alert.fingerprint);
      const payload = message.payload;
      if (payload.kind === 'slack_alert') {
        if (ts?.startsWith('digest:')) {
          digestEdits.set(ts.slice('digest:'.length), [...(digestEdits.get(ts.slice('digest:'.length)) ?? []), message.id]);
        } else if (ts) {
          await attempt([message.id], async () => {
            try {
              await deps.client.chat.update({ channel, ts, ...alertBlocks(alert, deps.contacts) });
            } catch (error) {
              // Someone deleted the message: post it again rather than block this alert's later changes forever.
              if (!GONE.has((error as { data?: { error?: string } }).data?.error ?? '')) throw error;
              const answer = await deps.client.chat.postMessage({ channel, ...alertBlocks(alert, deps.contacts), metadata: { event_type: 'dr_alert', event_payload: { fingerprint: alert.fingerprint } } });
              await deps.store.setAlertMessage(alert.fingerprint, channel, answer.ts!);
              existing.set(alert.fingerprint, answer.ts!);
            }
          });
        } else {
          await attempt([message.id], async () => {
            const answer = await deps.client.chat.postMessage({ channel, ...alertBlocks(alert, deps.contacts), metadata: { event_type: 'dr_alert', event_payload: { fingerprint: alert.fingerprint } } });
            await deps.store.setAlertMessage(alert.fingerprint, channel, answer.ts!);
            existing.set(alert.fingerprint, answer.ts!);
          });
        }
      } else if (payload.kind === 'slack_alert_reminder') {
        const thread = ts && !ts.startsWith('digest:') ? { thread_ts: ts, reply_broadcast: true } : {};
        await attempt([message.id], async () => void (await deps.client.chat.postMessage({ channel, ...thread, text: `⏰ Still ${alert.state === 'firing' ? 'firing and not acknowledged' : alert.state}: *${alert.alert}* — ${alert.summary.slice(0, 300)}` })));
      } else if (payload.kind === 'slack_alert_refired') {
        const thread = ts && !ts.startsWith('digest:') ? { thread_ts: ts, reply_broadcast: true } : {};
        await attempt([message.id], async () => void (await deps.client.chat.postMessage({ channel, ...thread, text: `🔁 Firing again (${alert.fireCount} times so far): *${alert.alert}* — ${alert.summary.slice(0, 300)}` })));
      } else if (payload.kind === 'slack_escalation') {
        const who = deps.contacts.management ? `${mention(deps.contacts.management)} ` : '';
        await attempt([message.id], async () => void (await deps.client.chat.postMessage({ channel, text: `📣 ${who}Escalation: the critical alert *${alert.alert}* has fired since ${alert.firingSince} and nobody has acknowledged it. ${alert.summary.slice(0, 300)}` })));
      } else {
        await report({ id: message.id, delivered: false, error: `not a Slack message (${(payload as { kind: string }).kind})`, permanent: true });
      }
    }
    for (const [ts, ids] of digestEdits) {
      await attempt(ids, async () => {
        const members = (await deps.store.getDigest(channel, ts)) ?? [];
        await deps.client.chat.update({ channel, ts, ...digestBlocks(await deps.store.getAlerts(members)) });
      });
    }
  };

  // An incident's parent message (posted once, then edited) and the lines of its thread, in order.
  const deliverIncident = async (message: OutboxMessage, report: (outcome: DeliveryOutcome) => Promise<void>): Promise<void> => {
    const payload = message.payload;
    if (payload.kind !== 'slack_incident' && payload.kind !== 'slack_incident_note' && payload.kind !== 'slack_checklist') return;
    const incident = await deps.store.getIncident(payload.incidentId);
    if (!incident) return void (await report({ id: message.id, delivered: true }));
    try {
      await pace(payload.channel);
      if (payload.kind === 'slack_checklist') {
        const where = incident.checklistMessage;
        if (where) await deps.client.chat.update({ channel: where.channel, ts: where.ts, ...checklistBlocks(incident) });
        return void (await report({ id: message.id, delivered: true }));
      }
      const thread = await deps.store.incidentThread(incident.id);
      if (payload.kind === 'slack_incident') {
        // A parent post whose deliverer died mid-way, or whose answer was lost, may have reached Slack: found by
        // its metadata, it is edited
        // (a failed lookup, e.g. a channel given by name, posts again rather than not at all).
        const posted = thread ?? (message.retaken || message.attempts > 0 ? await findIncidentParent(deps.client, payload.channel, incident.id).catch(() => undefined) : undefined);
        if (posted && !thread) await deps.store.setIncidentThread(incident.id, posted);
        if (posted) await deps.client.chat.update({ channel: payload.channel, ts: posted, ...incidentBlocks(incident) });
        else {
          const answer = await deps.client.chat.postMessage({ channel: payload.channel, ...incidentBlocks(incident), metadata: { event_type: 'dr_incident', event_payload: { incident_id: incident.id } } });
          await deps.store.setIncidentThread(incident.id, answer.ts!);
        }
      } else {
        await deps.client.chat.postMessage({ channel: payload.channel, ...(thread ? { thread_ts: thread } : {}), text: payload.text });
      }
      await report({ id: message.id, delivered: true });
    } catch (error) {
      await report({ id: message.id, delivered: false, ...classify(error) });
    }
  };

  // The outbox's own notices (a backlog, a message given up on): plain text, our own words and figures.
  const deliverNotice = async (message: OutboxMessage, report: (outcome: DeliveryOutcome) => Promise<void>): Promise<void> => {
    if (message.payload.kind !== 'slack_notice') return;
    try {
      await pace(message.payload.channel);
      await deps.client.chat.postMessage({ channel: message.payload.channel, text: message.payload.text });
      await report({ id: message.id, delivered: true });
    } catch (error) {
      await report({ id: message.id, delivered: false, ...classify(error) });
    }
  };

  return {
    async deliver(messages, report) {
      const byChannel = new Map<string, AlertMessage[]>();
      const incidentMessages: OutboxMessage[] = [];
      // Notices first: they say the outbox is behind, so they must not wait behind it.
      for (const message of messages) if (message.payload.kind === 'slack_notice') await deliverNotice(message, report);
      for (const message of messages) {
        if (message.payload.kind === 'slack_notice') continue;
        if (!isAlertMessage(message)) {
          incidentMessages.push(message);
          continue;
        }
        const channel = message.payload.channel;
        (byChannel.get(channel) ?? byChannel.set(channel, []).get(channel)!).push(message);
      }
      // Channels in parallel (each has its own rate limit), messages of one channel in order. One channel
      // failing outright fails only its own unreported messages: the others are still being sent.
      const reported = new Set<number>();
      const track = async (outcome: DeliveryOutcome) => {
        reported.add(outcome.id);
        await report(outcome);
      };
      const failRest = async (list: readonly OutboxMessage[], error: unknown) => {
        for (const message of list) if (!reported.has(message.id)) await track({ id: message.id, delivered: false, ...classify(error) });
      };
      await Promise.all([
        ...[...byChannel].map(([channel, list]) => deliverChannel(channel, list, track).catch((error: unknown) => failRest(list, error))),
        (async () => {
          for (const message of incidentMessages) await deliverIncident(message, track).catch((error: unknown) => failRest([message], error));
        })(),
      ]);
    },
  };
}

/** An outbox message about one alert. */
type AlertMessage = OutboxMessage & { payload: Extract<OutboxPayload, { fingerprint: string; channel: string }> };

function isAlertMessage(message: OutboxMessage): message is AlertMessage {
  return 'fingerprint' in message.payload && 'channel' in message.payload;
}

// How far back a crashed delivery's post is looked for: a burst is one digest, so a few hundred messages suffice.
const HISTORY_LOOKBACK = 200;

/** The channel's recent messages that carry metadata of this bot's posts: how a post lost in a crash is found again. */
async function postsWithMetadata(client: WebClient, channel: string): Promise<Array<{ ts: string; type: string; payload: Record<string, unknown> }>> {
  const answer = await client.conversations.history({ channel, limit: HISTORY_LOOKBACK, include_all_metadata: true });
  return (answer.messages ?? []).flatMap((message) => {
    const metadata = message.metadata as { event_type?: string; event_payload?: Record<string, unknown> } | undefined;
    return message.ts && metadata?.event_type && metadata.event_payload ? [{ ts: message.ts, type: metadata.event_type, payload: metadata.event_payload }] : [];
  });
}

/**
 * Alert messages this bot already posted in the channel, by fingerprint (from the message metadata of single
 * posts and digests), and the full member list of each digest found. Only asked for messages whose earlier delivery may have got through.
 */
async function findPosted(client: WebClient, channel: string, wanted: ReadonlySet<string>): Promise<{ found: Map<string, string>; digests: Map<string, string[]> }> {
  const found = new Map<string, string>();
  const digests = new Map<string, string[]>();
  for (const post of await postsWithMetadata(client, channel)) {
    if (post.type === 'dr_alert') {
      const fingerprint = String(post.payload.fingerprint);
      if (wanted.has(fingerprint) && !found.has(fingerprint)) found.set(fingerprint, post.ts);
    } else if (post.type === 'dr_alert_digest') {
      const members = String(post.payload.fingerprints).split(',');
      for (const fingerprint of members) {
        if (wanted.has(fingerprint) && !found.has(fingerprint)) {
          found.set(fingerprint, `digest:${post.ts}`);
          digests.set(post.ts, members);
        }
      }
    }
  }
  return { found, digests };
}

/** The parent message of an incident this bot already posted in the channel (from its message metadata). */
async function findIncidentParent(client: WebClient, channel: string, incidentId: string): Promise<string | undefined> {
  return (await postsWithMetadata(client, channel)).find((post) => post.type === 'dr_incident' && post.payload.incident_id === incidentId)?.ts;
}

/** A Slack failure as the outbox sees it: retry after Retry-After (429), give up (permanent), or back off. */
function classify(error: unknown): { error: string; retryAfterMs?: number; permanent?: boolean } {
  const e = error as { code?: string; retryAfter?: number; data?: { error?: string } };
  if (e.code === 'slack_webapi_rate_limited_error') return { error: 'rate limited', retryAfterMs: Math.max(1, e.retryAfter ?? 1) * 1_000 };
  const slackError = e.data?.error;
  if (slackError) return { error: slackError, permanent: PERMANENT.has(slackError) };
  return { error: errorText(error) };
}

