import type { Logger } from 'pino';
import { DrError, errorText, toDrError } from '../domain/errors.ts';
import { withDeadline } from '../procedures/deadline.ts';
import type { BotMetrics } from '../observability/metrics.ts';
import { authorize } from './authorize.ts';
import { auditRetryQueue } from './audit-retry.ts';
import { parseCommand, type ParsedCommand } from './parse.ts';
import type { CommandDeps, CommandOutcome, Invocation } from './types.ts';

/** Services every surface shares when it runs a command. */
export interface DispatchDeps extends CommandDeps {
  metrics: BotMetrics;
}

/** A command ready to run, or the reason it will not run (known before anything executes). */
export type Prepared =
  | { ok: true; parsed: ParsedCommand; name: string }
  | { ok: false; name: string; error: DrError };

/** Parses and authorizes without running anything: surfaces call this before they acknowledge. */
export async function prepareCommand(deps: DispatchDeps, invocation: Invocation): Promise<Prepared> {
  let parsed: ParsedCommand;
  try {
    parsed = parseCommand(invocation.text, { config: deps.config });
  } catch (error) {
    return { ok: false, name: 'unknown', error: toDrError(error) };
  }
  const name = parsed.definition.name;
  if (!parsed.definition.run) {
    return { ok: false, name, error: new DrError('COMMAND_NOT_BUILT', `\`${parsed.definition.usage}\` is not built yet; nothing was run.`, { hint: 'help' }) };
  }
  try {
    await authorize(deps.roles, parsed.definition.riskOf?.(parsed.args) ?? parsed.definition.risk, invocation, parsed.definition.name);
  } catch (error) {
    return { ok: false, name, error: toDrError(error) };
  }
  return { ok: true, parsed, name };
}

/** Records a command that was refused before running: audit row, metric, log. */
export async function recordRefusal(deps: DispatchDeps, invocation: Invocation, refused: Extract<Prepared, { ok: false }>): Promise<void> {
  await record(deps, invocation, refused.name, refused.error.code.toLowerCase(), { error: refused.error.userMessage });
}

/** Runs a prepared command, then audits and counts it; a failure comes back as a DrError, never thrown. */
export async function runPrepared(
  deps: DispatchDeps,
  invocation: Invocation,
  prepared: Extract<Prepared, { ok: true }>,
): Promise<CommandOutcome | DrError> {
  const started = performance.now();
  let result: CommandOutcome | DrError;
  try {
    // A destructive command leaves a trace before it does anything, or it does nothing.
    if ((prepared.parsed.definition.riskOf?.(prepared.parsed.args) ?? prepared.parsed.definition.risk) === 'destructive') {
      await requireAudit(deps, invocation, prepared.name, 'requested', {});
    }
    result = await prepared.parsed.definition.run!(deps, prepared.parsed.args, invocation);
  } catch (error) {
    result = toDrError(error);
    // Expected refusals and failures carry a code; only the unexpected deserve a stack trace.
    if (result.code === 'INTERNAL') deps.logger.error({ err: error, command: prepared.name }, 'command failed');
    else deps.logger.warn({ code: result.code, reason: result.userMessage, command: prepared.name }, 'command failed');
  }
  const outcome = result instanceof DrError ? 'error' : outcomeOf(result);
  await record(deps, invocation, prepared.name, outcome, { ms: Math.round(performance.now() - started) });
  return result;
}

/** Parse, authorize, run, audit: the whole path for callers that have no ack deadline (CLI). */
export async function executeCommand(deps: DispatchDeps, invocation: Invocation): Promise<{ name: string; result: CommandOutcome | DrError }> {
  const prepared = await prepareCommand(deps, invocation);
  if (!prepared.ok) {
    await recordRefusal(deps, invocation, prepared);
    return { name: prepared.name, result: prepared.error };
  }
  return { name: prepared.name, result: await runPrepared(deps, invocation, prepared) };
}

function outcomeOf(result: CommandOutcome): string {
  if (result.kind === 'status') return result.report.overall === 'ok' ? 'healthy' : 'degraded';
  if (result.kind === 'history' && result.verdict && !result.verdict.ok) return 'chain_broken';
  if (result.kind === 'run') return result.run.status;
  return 'ok';
}

// An answer waits for its audit row at most this long: a slow state store must not silence the bot.
const AUDIT_DEADLINE_MS = 3_000;

/** Audits, counts and logs one action (a command, or a scheduled job); a slow or broken store delays it at most a few seconds, and a row it refused is retried later. */
export async function record(deps: DispatchDeps, invocation: Invocation, command: string, outcome: string, detail: Record<string, unknown>): Promise<void> {
  deps.metrics.commandTotal.inc({ command, outcome });
  deps.logger.info({ command, outcome, actor: invocation.actor, channel: invocation.channel, source: invocation.source, ...detail }, 'command');
  const entry = auditEntry(invocation, command, outcome, detail);
  const occurredAt = new Date().toISOString();
  const queue = auditRetryQueue(deps.store, deps.logger);
  try {
    // Rows refused earlier go first, so the chain keeps the order things happened in.
    if (queue.size > 0 && !(await withDeadline(AUDIT_DEADLINE_MS, () => queue.flush()))) throw new Error('earlier audit rows are still waiting for the state store');
    await withDeadline(AUDIT_DEADLINE_MS, () => deps.store.appendAudit(entry));
  } catch (error) {
    queue.add(entry, occurredAt);
    deps.logger.error({ err: errorText(error), command, outcome, actor: invocation.actor }, 'audit row could not be written; it will be retried');
  }
}

/**
 * Writes one audit row or throws STATE_UNAVAILABLE: for what must not happen unrecorded (a destructive
 * command, a gate starting its run). A store the health monitor knows to be broken (a deleted or replaced
 * file still takes writes that are lost at restart) counts as unwritable.
 */
export async function requireAudit(deps: DispatchDeps, invocation: Invocation, command: string, outcome: string, detail: Record<string, unknown>): Promise<void> {
  const refuse = (why: string, cause?: unknown) =>
    new DrError('STATE_UNAVAILABLE', `The audit log cannot be written (${why}), so dr-bot refuses destructive commands until it can. Nothing was run. Check /healthz and DR_STATE; \`npx dr\` on a terminal says more.`, cause === undefined ? {} : { cause });
  const health = deps.stateHealth?.();
  if (health && !health.healthy) throw refuse(health.reason ?? 'the state store is unhealthy');
  const queue = auditRetryQueue(deps.store, deps.logger);
  try {
    if (queue.size > 0 && !(await withDeadline(AUDIT_DEADLINE_MS, () => queue.flush()))) throw new Error('earlier audit rows are still waiting for the state store');
    await withDeadline(AUDIT_DEADLINE_MS * 2, () => deps.store.appendAudit(auditEntry(invocation, command, outcome, detail)));
  } catch (error) {
    deps.logger.error({ err: errorText(error), command, outcome, actor: invocation.actor }, 'required audit row could not be written; refused');
    throw refuse(errorText(error), error);
  }
  deps.metrics.commandTotal.inc({ command, outcome });
}

// Text is clipped so a pasted novel cannot bloat the audit log; its length is kept.
function auditEntry(invocation: Invocation, command: string, outcome: string, detail: Record<string, unknown>) {
  return {
    source: invocation.source,
    actor: invocation.actor,
    channel: invocation.channel,
    command,
    text: invocation.text.slice(0, 500),
    outcome,
    detail: { ...detail, textLength: invocation.text.length },
  };
}
