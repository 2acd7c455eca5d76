import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { DispatchDeps } from './commands/dispatch.ts';
import { withDeadline } from './procedures/deadline.ts';
import { composeDeps, processOwnerAlive, PROCESS_OWNER } from './compose.ts';
import { EventsPager } from './adapters/pagerduty/events-pager.ts';
import { startOutboxWorker, type OutboxWorker } from './alerts/outbox-worker.ts';
import { startOutboxHealth } from './alerts/outbox-health.ts';
import { pagerDutyDeliverer } from './alerts/pagerduty-delivery.ts';
import { emailDeliverer } from './alerts/email-delivery.ts';
import { SmtpMailer } from './adapters/email/smtp-mailer.ts';
import { parseAlertJson, parseAlertmanagerBatch } from './alerts/ingest.ts';
import { takeInSignals } from './alerts/ingest-signals.ts';
import { takeInPagerDutyEvent } from './alerts/pagerduty-webhook.ts';
import { remindAndEscalate } from './alerts/escalation.ts';
import { probeScheduleDeps, startProbeCycle } from './alerts/probe-schedule.ts';
import type { Config } from './config/load.ts';
import { createHttpServer } from './http/server.ts';
import { createSlackSurface, type SlackSurface } from './slack/app.ts';
import { startBackupSchedules } from './scheduler/backup-schedules.ts';
import { markInterruptedRuns } from './procedures/engine.ts';
import { clearRunLeftovers, retryPendingLeftovers } from './procedures/run-leftovers.ts';
import { lastFinishedStep, type Run } from './domain/run.ts';
import { record } from './commands/dispatch.ts';
import { finishGate } from './gates/gates.ts';
import { errorText } from './domain/errors.ts';
import { startStateHealthMonitor } from './alerts/state-health.ts';
import { directPoster } from './slack/announce.ts';
import { auditRetryQueue } from './commands/audit-retry.ts';

/** A started bot: its listener, Slack surface and services. */
export interface RunningBot {
  server: Server;
  url: string;
  slack: SlackSurface;
  deps: DispatchDeps;
  /** Delivers queued notifications (Slack, PagerDuty). */
  outbox: OutboxWorker;
  stop(): Promise<void>;
}

/** Wires config → state → ports → Slack + HTTP, and listens on PORT/HOST. */
export async function startBot(
  config: Config,
  logger: Logger,
  // pagerCa: the only CA to trust for the Events API host, for a bot embedded in a process that could not be
  // started with NODE_EXTRA_CA_CERTS (production sets that variable instead).
  // probes: the alert catalog's probe cycle; it follows `schedules` unless set (test bots run neither by default).
  // stateHealthIntervalMs: how often the state store's health is checked (tests shorten it).
  options: { slackRetries?: number; schedules?: boolean; probes?: boolean; pagerCa?: string; stateHealthIntervalMs?: number } = {},
): Promise<RunningBot> {
  const deps = await composeDeps(config, logger);
  // The critical channel hears of a broken state store straight from the Web API: the outbox lives in that store.
  const postCritical = directPoster(config, config.slack.channels.critical);
  const stateHealth = startStateHealthMonitor({
    store: deps.store,
    owner: PROCESS_OWNER,
    notify: postCritical ?? (async () => { throw new Error('SLACK_BOT_TOKEN is not set'); }),
    systemName: config.system.name,
    logger,
    now: () => new Date(),
    ...(options.stateHealthIntervalMs ? { intervalMs: options.stateHealthIntervalMs } : {}),
  });
  deps.stateHealth = stateHealth.current;
  let slack: SlackSurface;
  try {
    slack = createSlackSurface(deps, options.slackRetries === undefined ? {} : { retries: options.slackRetries });
  } catch (error) {
    await stateHealth.stop();
    await deps.store.close();
    throw error;
  }
  const health = startOutboxHealth({ store: deps.store, channel: config.slack.channels.critical, logger: logger.child({ component: 'outbox-health' }), kick: () => deps.outboxWake.fire(), owner: PROCESS_OWNER });
  const pager = new EventsPager({ routingKey: config.env.pagerdutyRoutingKey, eventsUrl: config.env.pagerdutyEventsUrl, ...(options.pagerCa ? { ca: options.pagerCa } : {}) });
  const outbox = startOutboxWorker({
    store: deps.store,
    owner: PROCESS_OWNER,
    ownerAlive: processOwnerAlive,
    logger: logger.child({ component: 'outbox' }),
    onDead: (message, error) => {
      deps.metrics.outboxDead.inc({ target: message.target });
      health.noteDead(message, error);
    },
    deliverers: {
      slack: slack.alertDeliverer,
      ...(pager.configured ? { pagerduty: pagerDutyDeliverer({ pager, store: deps.store, source: config.system.name, criticalChannel: config.slack.channels.critical }) } : {}),
      ...(config.email ? { email: emailDeliverer({ mailer: new SmtpMailer(config.email.smtp_url, config.email.from, config.email.to), store: deps.store, systemName: config.system.name }) } : {}),
    },
  });
  deps.outboxWake.listen(outbox.kick);
  // Reminders and escalation: each pass decides inside the alerts' own transaction, so replicas never double up.
  const escalation = setInterval(() => {
    remindAndEscalate({
      store: deps.store,
      routing: deps.alertIntake.routing,
      stakeholdersChannel: config.slack.channels.stakeholders,
      repeatMs: config.alerts.repeat,
      escalateAfterMs: config.escalation.after,
      now: () => new Date(),
      kick: outbox.kick,
    }).catch((error: unknown) => logger.warn({ err: errorText(error) }, 'reminder and escalation pass failed'));
  }, ESCALATION_PASS_MS);
  escalation.unref();
  const takeInAlerts = async (format: 'alertmanager' | 'alert', body: unknown) => {
    let signals;
    if (format === 'alertmanager') {
      const batch = parseAlertmanagerBatch(body);
      // Alertmanager's max_alerts dropped alerts of this group: the messages say so, and so does the log.
      if (batch.truncated > 0) logger.warn({ receiver: batch.receiver, groupKey: batch.groupKey, truncatedAlerts: batch.truncated, received: batch.alerts.length }, 'Alertmanager cut alerts from a webhook (max_alerts)');
      signals = batch.alerts;
    } else signals = [parseAlertJson(body)];
    const changed = await takeInSignals(deps.alertIntake, signals);
    return { accepted: signals.length, changed: changed.length };
  };
  const server = createHttpServer({
    store: deps.store,
    metrics: deps.metrics,
    slack,
    slackSigningSecret: config.env.slackSigningSecret,
    pagerDuty: { secret: config.env.pagerdutyWebhookSecret, takeIn: (event) => takeInPagerDutyEvent(deps.alertIntake, event) },
    alertToken: config.env.alertToken,
    takeInAlerts,
    logger,
    startedAt: new Date(),
    stateHealth: stateHealth.current,
  });
  server.listen(config.env.port, config.env.host);
  await once(server, 'listening');
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  logger.info({ port, slack: slack.mode, state: deps.store.kind, config: config.env.configPath ?? 'built-in defaults' }, 'dr-bot listening');
  await slack.start();
  await reportInterruptedRuns(deps, slack);
  // Replicas on other hosts are only known dead by their heartbeat, so look again now and then; a sweep slowed
  // by a database that does not answer is not joined by the next one.
  let sweeping = false;
  const interruptedSweep = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    void reportInterruptedRuns(deps, slack).finally(() => (sweeping = false));
  }, STALE_RUN_MS);
  interruptedSweep.unref();
  const schedules = options.schedules === false ? undefined : await startBackupSchedules(deps, deps.alertSink, { holder: PROCESS_OWNER, ownerAlive: processOwnerAlive });
  const probes = (options.probes ?? options.schedules !== false) ? startProbeCycle(probeScheduleDeps(deps)) : undefined;
  logger.info({ schedules: schedules !== undefined, probes: probes !== undefined }, 'dr-bot started');
  return {
    server,
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    slack,
    deps,
    outbox,
    async stop() {
      clearInterval(interruptedSweep);
      clearInterval(escalation);
      // Before the outbox and the store: a cycle in progress still takes its signals in.
      await probes?.stop();
      await health.stop();
      await outbox.stop();
      await schedules?.stop();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await slack.stop();
      await stateHealth.stop();
      auditRetryQueue(deps.store, logger).stop();
      await deps.store.close();
    },
  };
}

// How often open alerts are checked for a due reminder or escalation.
const ESCALATION_PASS_MS = 30_000;

// A heartbeat older than this means the replica running the run (on another host) is gone.
const STALE_RUN_MS = 60_000;
// Start-up is not held up long by a database that does not answer (likely, mid-disaster).
const LEFTOVER_DEADLINE_MS = 15_000;

/**
 * Runs left `running` by a crash are marked `interrupted` with their last finished step and reported to the
 * critical channel; they are never resumed silently (DESIGN.md §6).
 */
async function reportInterruptedRuns(deps: DispatchDeps, slack: SlackSurface): Promise<void> {
  let runs;
  try {
    runs = await markInterruptedRuns(deps.engine, { staleAfterMs: STALE_RUN_MS, ownerAlive: processOwnerAlive });
  } catch (error) {
    deps.logger.error({ err: errorText(error) }, 'could not look for interrupted runs');
    return;
  }
  // Only a run whose process is known to be gone (this host, pid dead) has its scratch dropped: a stale
  // heartbeat from another host may be a slow replica still restoring into it.
  const leftovers = {
    store: deps.store,
    now: () => new Date(),
    remove: (run: Run) => withDeadline(LEFTOVER_DEADLINE_MS, () => deps.removeRunLeftovers(run)),
    ownerGone: (run: Run) => processOwnerAlive(run.owner) === false,
  };
  for (const run of runs) {
    const after = lastFinishedStep(run) ?? 'no step had finished';
    const cleanedUp = await clearRunLeftovers(leftovers, run);
    deps.logger.error({ run: run.id, procedure: run.procedure, after, cleanedUp }, 'run was interrupted');
    await record(deps, { source: 'scheduler', actor: 'dr-bot', channel: run.channel ?? 'n/a', text: `${run.procedure} ${run.id}` }, run.procedure, 'run_interrupted', { runId: run.id, after });
    if (run.gateId) {
      const gate = await deps.store.getGate(run.gateId).catch(() => undefined);
      if (gate) await finishGate(deps.gates, gate, run.id).catch(() => {});
    }
    await deps.alertSink
      .raise({
        alert: 'run_interrupted',
        severity: 'critical',
        summary: `${run.procedure} ${run.id} was interrupted (the bot stopped) after "${after}". It was not resumed; check /dr status before acting.${cleanedUp.length ? ` At start-up the bot ${cleanedUp.join('; ')}.` : ''}`,
        details: { run: run.id, started: run.startedAt, 'started by': run.actor, 'last finished step': after },
        key: run.id,
      })
      .catch((error: unknown) => deps.logger.error({ err: errorText(error), run: run.id }, 'interrupted run not reported in Slack'));
  }
  // Scratch databases an earlier sweep could not drop (the database was down) are tried again until they go.
  try {
    for (const { run, said } of await retryPendingLeftovers(leftovers, { skip: new Set(runs.map((run) => run.id)) })) {
      deps.logger.warn({ run: run.id, procedure: run.procedure, said }, 'leftovers of an interrupted run, tried again');
    }
  } catch (error) {
    deps.logger.error({ err: errorText(error) }, 'could not look for leftovers of interrupted runs');
  }
}
