import type { Logger } from 'pino';
import { formatDuration } from '../config/duration.ts';
import { OUTBOX_PRIORITY, type OutboxMessage } from '../domain/alert.ts';
import { errorText } from '../domain/errors.ts';
import type { ProbeState } from '../domain/status.ts';
import type { OutboxTargetHealth, StateStore } from '../ports/state-store.ts';
import { escapeMrkdwn } from '../render/mrkdwn.ts';

/** A new alert's notification waiting longer than this means the outbox is behind (issue: "never queued behind a backlog"). */
export const OUTBOX_BACKLOG_MS = 60_000;

/** The outbox judged for `/dr status` and the critical channel: ok, behind (fail), or with messages given up on (warn). */
export function judgeOutbox(health: readonly OutboxTargetHealth[], now: Date, backlogMs = OUTBOX_BACKLOG_MS): { state: ProbeState; summary: string; details: string[] } {
  const age = (at: string | undefined) => (at ? Math.max(0, now.getTime() - Date.parse(at)) : 0);
  const details = health.map(
    (t) =>
      `${t.target}: ${t.pending} pending${t.pending ? `, oldest ${formatDuration(age(t.oldestPendingAt))}` : ''}${t.oldestTriggerAt ? `, oldest new alert ${formatDuration(age(t.oldestTriggerAt))}` : ''}${t.dead ? `, ${t.dead} given up (recently)` : ''}`,
  );
  const late = health.filter((t) => age(t.oldestTriggerAt) > backlogMs);
  const pending = health.reduce((sum, t) => sum + t.pending, 0);
  const dead = health.reduce((sum, t) => sum + t.dead, 0);
  const deadText = dead ? `; ${dead} notification${dead === 1 ? '' : 's'} given up on in the last day (\`/dr alerts\`, logs)` : '';
  if (late.length > 0) {
    const worst = Math.max(...late.map((t) => age(t.oldestTriggerAt)));
    return { state: 'fail', summary: `behind: a new alert has waited ${formatDuration(worst)} to reach ${late.map((t) => t.target).join(', ')} (${pending} pending)${deadText}`, details };
  }
  if (dead > 0) return { state: 'warn', summary: `${pending} pending${deadText}`, details };
  return { state: 'ok', summary: pending ? `${pending} pending, new alerts going out in time` : 'nothing pending', details };
}

/** What the outbox health watch needs. */
export interface OutboxHealthDeps {
  store: StateStore;
  /** Where notices go: the critical channel. */
  channel: string;
  logger: Logger;
  now?: () => Date;
  /** Wakes the outbox worker for a queued notice. */
  kick?: () => void;
  /** How often the backlog is looked at. */
  checkMs?: number;
  backlogMs?: number;
  /** This process, as recorded on the schedule slot of a backlog notice. */
  owner?: string;
}

/** The running watch. */
export interface OutboxHealthWatch {
  /** A message was given up on: the critical channel hears of it (several at once are one notice). */
  noteDead(message: OutboxMessage, error: string): void;
  /** One look at the backlog now (tests; it also runs every `checkMs`). */
  check(): Promise<void>;
  stop(): Promise<void>;
}

/** Messages given up on within this window count as recent (status, notices); older ones are history. */
export const DEAD_RECENT_MS = 24 * 3_600_000;

// One notice about dead messages at most this often; the ones in between are counted into the next.
const DEAD_NOTICE_EVERY_MS = 60_000;
// While the outbox stays behind, it is said again this often (one replica says it, by schedule slot).
const BACKLOG_NOTICE_EVERY_MS = 10 * 60_000;

/**
 * Watches the outbox (issue: outbox health): when a new alert's notification has waited over a minute, or a
 * message is given up on, the critical channel says so. The notice is queued at the highest priority, so it
 * goes out before the backlog it reports.
 */
export function startOutboxHealth(deps: OutboxHealthDeps): OutboxHealthWatch {
  const now = deps.now ?? (() => new Date());
  const backlogMs = deps.backlogMs ?? OUTBOX_BACKLOG_MS;
  let behind = false;
  let deadSince: { count: number; targets: Set<string>; last: string } | undefined;
  let lastDeadNotice = 0;
  let checking: Promise<void> | undefined;

  const notify = async (text: string) => {
    await deps.store.enqueue([{ target: 'slack', orderKey: `slack:${deps.channel}:outbox-notice`, payload: { kind: 'slack_notice', channel: deps.channel, text }, priority: OUTBOX_PRIORITY.notice }]);
    deps.kick?.();
  };

  const flushDead = async () => {
    if (!deadSince || now().getTime() - lastDeadNotice < DEAD_NOTICE_EVERY_MS) return;
    const { count, targets, last } = deadSince;
    deadSince = undefined;
    lastDeadNotice = now().getTime();
    await notify(
      `⚠️ ${count} notification${count === 1 ? ' was' : 's were'} given up on after repeated permanent failures (${[...targets].join(', ')}). Last error: ${escapeMrkdwn(last.slice(0, 300))}. The alerts themselves are in \`/dr alerts\`.`,
    );
  };

  const check = async (): Promise<void> => {
    const health = await deps.store.outboxHealth({ deadSince: new Date(now().getTime() - DEAD_RECENT_MS).toISOString() });
    const verdict = judgeOutbox(health, now(), backlogMs);
    if (verdict.state === 'fail') {
      behind = true;
      deps.logger.error({ outbox: health }, 'outbox is behind: new alerts are waiting');
      // Said once per window while it lasts, by whichever replica claims the window's slot.
      const slot = `outbox-backlog:${Math.floor(now().getTime() / BACKLOG_NOTICE_EVERY_MS)}`;
      if (await deps.store.claimSlot(slot, deps.owner ?? 'outbox-health')) {
        await notify(`🐢 Alert delivery is ${verdict.summary}. ${verdict.details.join('; ')}. This notice skipped the queue; \`/dr status\` shows the outbox.`);
      }
    } else if (behind) {
      behind = false;
      await notify(`✅ Alert delivery caught up: ${escapeMrkdwn(verdict.summary)}.`);
    }
    await flushDead();
  };

  const guarded = () => {
    checking ??= check()
      .catch((error: unknown) => deps.logger.warn({ err: errorText(error) }, 'outbox health check failed'))
      .finally(() => (checking = undefined));
    return checking;
  };
  const timer = setInterval(() => void guarded(), deps.checkMs ?? 10_000);
  timer.unref();

  return {
    noteDead(message, error) {
      // A notice that itself died is logged (by the worker) but not announced again: that could loop.
      if (message.payload.kind === 'slack_notice') return;
      deadSince ??= { count: 0, targets: new Set(), last: '' };
      deadSince.count += 1;
      deadSince.targets.add(message.target);
      deadSince.last = error;
      void flushDead().catch((err: unknown) => deps.logger.warn({ err: errorText(err) }, 'outbox dead-message notice not queued'));
    },
    check: guarded,
    async stop() {
      clearInterval(timer);
      await checking;
    },
  };
}
