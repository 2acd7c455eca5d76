import type { ChatPostMessageArguments, WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import type { AlertRecord, OutboxMessage, OutboxPayload } from '../domain/alert.ts';
import { errorText } from '../domain/errors.ts';
import type { DeliveryOutcome, OutboxDeliverer } from '../alerts/outbox-worker.ts';
import type { StateStore } from '../ports/state-store.ts';
import { channelRef, clampMrkdwn, mention } from '../render/mrkdwn.ts';
import { alertBlocks, alertTextLine, digestBlocks, type AlertContacts } from './render/alert.ts';
import { incidentBlocks } from './render/incident.ts';
import { checklistBlocks } from './render/checklist.ts';
import { fitMessage, overflowOf, replyChunks, SLACK_LIMITS, type SlackMessage } from './render/limits.ts';

/** What the Slack side of the outbox needs. */
export interface SlackAlertDeliveryDeps {
  /** A client that does not retry on its own: the outbox owns retries and Retry-After. */
  client: WebClient;
  store: StateStore;
  contacts: AlertContacts & { management?: string };
  stakeholdersChannel: string;
  /** Where a message goes when its own channel cannot be reached (the bot is not in it and cannot join). */
  criticalChannel?: string;
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
// Slack refused the blocks (or the length): the same message is sent once more as text only.
const REFUSED_CONTENT = new Set(['invalid_blocks', 'msg_too_long']);
// A channel the bot could not join is not tried again for this long (each message would otherwise try).
const JOIN_RETRY_MS = 60_000;

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
  const send = slackSender(deps);

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
        const posted = await send.post(channel, digestBlocks(fingerprints.map((fp) => alerts.get(fp)!).filter(Boolean)), { metadata: { event_type: 'dr_alert_digest', event_payload: { fingerprints: fingerprints.join(',') } } });
        await deps.store.saveDigest(channel, posted, fingerprints);
        await deps.store.setAlertMessages(fingerprints, channel, `digest:${posted}`);
        for (const fp of fingerprints) existing.set(fp, `digest:${posted}`);
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
              await send.update(channel, ts, alertBlocks(alert, deps.contacts));
            } catch (error) {
              // Someone deleted the message: post it again rather than block this alert's later changes forever.
              if (!GONE.has((error as { data?: { error?: string } }).data?.error ?? '')) throw error;
              const posted = await send.post(channel, alertBlocks(alert, deps.contacts), { metadata: { event_type: 'dr_alert', event_payload: { fingerprint: alert.fingerprint } } });
              await deps.store.setAlertMessage(alert.fingerprint, channel, posted);
              existing.set(alert.fingerprint, posted);
            }
          });
        } else {
          await attempt([message.id], async () => {
            const posted = await send.post(channel, alertBlocks(alert, deps.contacts), { metadata: { event_type: 'dr_alert', event_payload: { fingerprint: alert.fingerprint } } });
            await deps.store.setAlertMessage(alert.fingerprint, channel, posted);
            existing.set(alert.fingerprint, posted);
          });
        }
      } else if (payload.kind === 'slack_alert_reminder') {
        const thread = ts && !ts.startsWith('digest:') ? { thread_ts: ts, reply_broadcast: true } : {};
        await attempt([message.id], async () => void (await send.post(channel, textMessage(`⏰ Still ${alert.state === 'firing' ? 'firing and not acknowledged' : alert.state}: ${alertTextLine(alert)}`), thread)));
      } else if (payload.kind === 'slack_alert_refired') {
        const thread = ts && !ts.startsWith('digest:') ? { thread_ts: ts, reply_broadcast: true } : {};
        await attempt([message.id], async () => void (await send.post(channel, textMessage(`🔁 Firing again (${alert.fireCount} times so far): ${alertTextLine(alert)}`), thread)));
      } else if (payload.kind === 'slack_escalation') {
        const who = deps.contacts.management ? `${mention(deps.contacts.management)} ` : '';
        await attempt([message.id], async () => void (await send.post(channel, textMessage(`📣 ${who}Escalation: the critical alert ${alertTextLine(alert)} — has fired since ${alert.firingSince} and nobody has acknowledged it.`))));
      } else if (payload.kind === 'slack_alert_note') {
        // A note (e.g. "resolved in PagerDuty") goes in the alert's thread; an alert shown in a digest has none.
        const thread = ts && !ts.startsWith('digest:') ? { thread_ts: ts } : {};
        await attempt([message.id], async () => void (await send.post(channel, textMessage(payload.text), thread)));
      } else {
        await report({ id: message.id, delivered: false, error: `not a Slack message (${(payload as { kind: string }).kind})`, permanent: true });
      }
    }
    for (const [ts, ids] of digestEdits) {
      await attempt(ids, async () => {
        const members = (await deps.store.getDigest(channel, ts)) ?? [];
        await send.update(channel, ts, digestBlocks(await deps.store.getAlerts(members)));
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
        if (where) await send.update(where.channel, where.ts, checklistBlocks(incident));
        return void (await report({ id: message.id, delivered: true }));
      }
      const thread = await deps.store.incidentThread(incident.id);
      if (payload.kind === 'slack_incident') {
        // A parent post whose deliverer died mid-way, or whose answer was lost, may have reached Slack: found by
        // its metadata, it is edited
        // (a failed lookup, e.g. a channel given by name, posts again rather than not at all).
        const posted = thread ?? (message.retaken || message.attempts > 0 ? await findIncidentParent(deps.client, payload.channel, incident.id).catch(() => undefined) : undefined);
        if (posted && !thread) await deps.store.setIncidentThread(incident.id, posted);
        if (posted) await send.update(payload.channel, posted, incidentBlocks(incident));
        else {
          const ts = await send.post(payload.channel, incidentBlocks(incident), { metadata: { event_type: 'dr_incident', event_payload: { incident_id: incident.id } } });
          await deps.store.setIncidentThread(incident.id, ts);
        }
      } else {
        // Notes are rendered (and escaped) where they are queued; here they are only fitted to Slack's limits.
        await send.post(payload.channel, textMessage(payload.text), thread ? { thread_ts: thread } : {});
      }
      await report({ id: message.id, delivered: true });
    } catch (error) {
      await report({ id: message.id, delivered: false, ...classify(error) });
    }
  };

  // A message whose channel the bot cannot reach is shown in the critical channel instead, once per message.
  const redirected = new Set<number>();
  const redirectUnreachable = async (messages: readonly OutboxMessage[], outcome: DeliveryOutcome): Promise<void> => {
    if (outcome.delivered || !(outcome as { unreachable?: string }).unreachable) return;
    const channel = (outcome as { unreachable?: string }).unreachable!;
    const message = messages.find((m) => m.id === outcome.id);
    if (!message || redirected.has(message.id)) return;
    redirected.add(message.id);
    const critical = deps.criticalChannel;
    const what = await describeForRedirect(deps.store, message.payload, deps.contacts);
    if (!critical || critical === channel) {
      deps.logger.error({ outbox: message.id, channel, err: outcome.error }, 'Slack message undeliverable: the bot cannot post in the channel and there is no other channel to say so');
      return;
    }
    const text = `⚠️ dr-bot could not post in ${channelRef(channel)} (${outcome.error}): invite the bot there (\`/invite @dr-bot\`) or fix slack.channels. The message it could not post:\n${what}`;
    try {
      await pace(critical);
      await send.post(critical, textMessage(text), {}, { join: false });
      deps.logger.error({ outbox: message.id, channel, critical, err: outcome.error }, 'Slack channel unreachable; the message was shown in the critical channel');
    } catch (error) {
      deps.logger.error({ outbox: message.id, channel, critical, err: errorText(error) }, 'Slack channel unreachable, and the critical channel could not be told either');
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
        await redirectUnreachable(messages, outcome);
        const { unreachable: _unreachable, ...plain } = outcome as DeliveryOutcome & { unreachable?: string };
        await report(plain as DeliveryOutcome);
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
  let answer;
  try {
    answer = await client.conversations.history({ channel, limit: HISTORY_LOOKBACK, include_all_metadata: true });
  } catch (error) {
    // Not a member: no earlier post of the bot's can be there (it would have had to be in the channel to post).
    if (slackErrorOf(error) === 'not_in_channel') return [];
    throw error;
  }
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
function classify(error: unknown): { error: string; retryAfterMs?: number; permanent?: boolean; unreachable?: string } {
  const e = error as { code?: string; retryAfter?: number; data?: { error?: string } };
  if (e.code === 'slack_webapi_rate_limited_error') return { error: 'rate limited', retryAfterMs: Math.max(1, e.retryAfter ?? 1) * 1_000 };
  const slackError = e.data?.error;
  const unreachable = error instanceof UnreachableChannel ? { unreachable: error.channel } : {};
  if (slackError) return { error: slackError, permanent: PERMANENT.has(slackError), ...unreachable };
  return { error: errorText(error) };
}

/** The Slack error code of a failed Web API call, if it has one. */
function slackErrorOf(error: unknown): string | undefined {
  return (error as { data?: { error?: string } }).data?.error;
}

// Slack said not_in_channel and the bot could not join: carries the channel so the message can be shown elsewhere.
class UnreachableChannel extends Error {
  constructor(
    readonly channel: string,
    readonly data: { error: string },
  ) {
    super(`not_in_channel: ${channel}`);
  }
}

/** A text-only message (reminders, thread lines), fitted to Slack's limits like every other. */
function textMessage(text: string): SlackMessage {
  return fitMessage({ text, blocks: [] });
}

// Everything a message says, as text: what Slack gets when it refuses the blocks, and what a redirect shows.
function asText(message: SlackMessage): string {
  const texts: string[] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(walk);
    if (typeof value !== 'object' || value === null) return;
    const record = value as Record<string, unknown>;
    // Buttons, checkboxes and confirm dialogs do nothing in a text-only message.
    if (record.type === 'actions' || record.type === 'button') return;
    if ((record.type === 'mrkdwn' || record.type === 'plain_text') && typeof record.text === 'string') return void texts.push(record.text);
    Object.values(record).forEach(walk);
  };
  walk(message.blocks);
  return clampMrkdwn(texts.length ? texts.join('\n') : message.text, SLACK_LIMITS.messageText);
}

// What an undeliverable message was about, for the note in the critical channel.
async function describeForRedirect(store: StateStore, payload: OutboxPayload, contacts: AlertContacts): Promise<string> {
  if ('fingerprint' in payload) {
    const [alert] = await store.getAlerts([payload.fingerprint]);
    if (alert) return asText(alertBlocks(alert, contacts));
  }
  if (payload.kind === 'slack_incident_note') return payload.text;
  if ('incidentId' in payload) {
    const incident = await store.getIncident(payload.incidentId);
    if (incident) return asText(incidentBlocks(incident));
  }
  return `(${payload.kind})`;
}

/**
 * Posts and edits through Slack's refusals: a message refused for its blocks or length (`invalid_blocks`,
 * `msg_too_long`) is sent once more as text only; `not_in_channel` makes the bot join the channel (public channels,
 * `channels:join`) and try again, else fails as UnreachableChannel. A post that had to be shortened gets the full
 * text of what was cut as replies in its thread.
 */
function slackSender(deps: SlackAlertDeliveryDeps) {
  const joinFailedAt = new Map<string, number>();
  const join = async (channel: string): Promise<boolean> => {
    if (Date.now() - (joinFailedAt.get(channel) ?? Number.NEGATIVE_INFINITY) < JOIN_RETRY_MS) return false;
    try {
      await deps.client.conversations.join({ channel });
      deps.logger.info({ channel }, 'joined a Slack channel the bot was not in');
      joinFailedAt.delete(channel);
      return true;
    } catch (error) {
      joinFailedAt.set(channel, Date.now());
      deps.logger.warn({ channel, err: slackErrorOf(error) ?? errorText(error) }, 'could not join a Slack channel (private, archived, named rather than by id, or no channels:join scope)');
      return false;
    }
  };
  const inChannel = async <T>(channel: string, options: { join?: boolean }, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (error) {
      if (slackErrorOf(error) !== 'not_in_channel') throw error;
      if (options.join === false || !(await join(channel))) throw new UnreachableChannel(channel, { error: 'not_in_channel' });
      return call();
    }
  };
  const withTextFallback = async <T>(channel: string, message: SlackMessage, call: (message: SlackMessage) => Promise<T>): Promise<T> => {
    try {
      return await call(message);
    } catch (error) {
      const code = slackErrorOf(error);
      if (!code || !REFUSED_CONTENT.has(code)) throw error;
      deps.logger.error({ channel, err: code }, 'Slack refused a message; sending it once more as text only');
      return call({ text: asText(message), blocks: [] });
    }
  };
  return {
    /** Posts a message (blocks and all); returns its ts. Replies with the full text of anything cut to fit. */
    async post(channel: string, message: SlackMessage, extra: { thread_ts?: string; reply_broadcast?: boolean; metadata?: { event_type: string; event_payload: Record<string, string> } } = {}, options: { join?: boolean } = {}): Promise<string> {
      const answer = await withTextFallback(channel, message, (m) =>
        inChannel(channel, options, () => deps.client.chat.postMessage({ channel, ...extra, text: m.text, ...(m.blocks.length ? { blocks: m.blocks } : {}) } as ChatPostMessageArguments)),
      );
      const ts = answer.ts!;
      const cut = overflowOf(message);
      if (cut.length > 0 && !extra.thread_ts) {
        try {
          for (const chunk of replyChunks(`✂️ The full text of what did not fit in the message above:\n${cut.join('\n\n')}`)) {
            await deps.client.chat.postMessage({ channel, thread_ts: ts, text: chunk });
          }
        } catch (error) {
          deps.logger.warn({ channel, ts, err: slackErrorOf(error) ?? errorText(error) }, 'the full text of a shortened message could not be posted in its thread');
        }
      }
      return ts;
    },
    /** Edits a message in place. */
    async update(channel: string, ts: string, message: SlackMessage): Promise<void> {
      await withTextFallback(channel, message, (m) => inChannel(channel, {}, () => deps.client.chat.update({ channel, ts, text: m.text, blocks: m.blocks })));
    },
  };
}

