import { randomBytes } from 'node:crypto';
import { readFile, unlink } from 'node:fs/promises';
import { closest } from 'fastest-levenshtein';
import { previousKeyOf, readEnvFile, readEnvValues, replaceFileAtomically, rewriteEnv, writePrivateFile, locateKeys, type EnvFileSnapshot } from '../adapters/config/env-file.ts';
import { fingerprint } from '../config/secret.ts';
import { DrError, errorText } from '../domain/errors.ts';
import { sealPlan, type Plan } from '../domain/plan.ts';
import type { Run } from '../domain/run.ts';
import type { RunOrigin } from '../gates/gated-procedures.ts';
import type { DmsEndpoints } from '../ports/dms.ts';
import type { ServiceControl } from '../ports/service.ts';
import type { StateStore } from '../ports/state-store.ts';
import { type RunSpec, type StepDefinition, runOriginFields } from './engine.ts';
import { expectedDurationMs, runLabel } from './plan-helpers.ts';
import { describeServiceResult, runServiceCommand, waitForHealthy } from './service-steps.ts';

/** What rotating the DMS's secrets needs. */
export interface RotateSecretsDeps {
  store: StateStore;
  service: ServiceControl;
  endpoints: DmsEndpoints;
  /** `secrets` of dr.yml: the env file (an absolute path), the keys that may be rotated, whether old values stay. */
  secrets: { envFile: string; keys: readonly string[]; keepPrevious: boolean };
  /** How long the DMS may take to report healthy after it starts. */
  healthDeadlineMs: number;
  now: () => Date;
}

/** The steps of `rotate-secrets`, in order. */
export const ROTATE_SECRETS_STEPS = [
  'read and check the env file',
  'back up the current env file',
  'write the new values (atomic rename)',
  'stop the service',
  'start the service on the new values',
  'wait for the health check',
] as const;

/** What a KEY argument may look like (an environment variable name); nothing else ever reaches the file. */
export const KEY_NAME = /^[A-Z][A-Z0-9_]*$/;

/** One rotated key as it may be shown anywhere: fingerprints of the old and the new value, never a value. */
export interface RotatedKey {
  key: string;
  from: string;
  to: string;
}

/**
 * The keys a rotation covers: every configured key when none is named; duplicates dropped. A name that is
 * not an env name, or not in `secrets.keys`, is refused with the keys that are allowed.
 */
export function chooseKeys(asked: readonly string[], configured: readonly string[]): string[] {
  if (configured.length === 0) throw new DrError('CONFIG_INVALID', 'secrets.keys in dr.yml is empty, so there is nothing to rotate. Nothing was run.');
  const allowed = `The keys dr-bot rotates (secrets.keys): ${configured.join(', ')}; name some of them, or none for all.`;
  for (const key of asked) {
    if (!KEY_NAME.test(key)) {
      throw new DrError('COMMAND_MALFORMED', `\`${printable(key)}\` is not a key name (upper-case letters, digits and _). ${allowed} Nothing was run.`, { hint: 'rotate-secrets' });
    }
    if (!configured.includes(key)) {
      throw new DrError('COMMAND_MALFORMED', `${key} is not in secrets.keys, so dr-bot will not touch it. ${allowed} Nothing was run.`, { hint: `rotate-secrets ${closest(key, [...configured])}` });
    }
  }
  const keys = asked.length > 0 ? [...new Set(asked)] : [...new Set(configured)];
  const clash = keys.find((key) => keys.includes(previousKeyOf(key)));
  if (clash) throw new DrError('COMMAND_MALFORMED', `${previousKeyOf(clash)} is where the old ${clash} is kept; it cannot be rotated together with ${clash}. Nothing was run.`);
  return keys;
}

// Echoing what someone typed: short, without Slack markup.
function printable(word: string): string {
  return (word.length > 40 ? `${word.slice(0, 40)}…` : word).replace(/[<>&`*~]/g, '');
}

/** The keys a plan covers, in order. */
function plannedKeys(plan: Plan): string[] {
  return (plan.input.keys ?? '').split(',').filter(Boolean);
}

/**
 * The plan of `rotate-secrets [KEY ...]`: which keys, in which file, their current fingerprints. New values
 * do not exist yet (they are made by the run), so nothing about them can be in the plan; the current
 * fingerprints are in its input, so an approval binds to the file as it was shown, and a file changed in
 * the meantime voids the gate.
 */
export async function planRotateSecrets(deps: RotateSecretsDeps, asked: readonly string[]): Promise<Plan> {
  const keys = chooseKeys(asked, deps.secrets.keys);
  const file = deps.secrets.envFile;
  const snapshot = await readEnvFile(file);
  const located = locateKeys(snapshot.content, keys, file);
  const current = keys.map((key) => `${key} ${fingerprint(located.get(key)!.assignment.value)}`);
  const expected = await expectedDurationMs(deps.store, ['rotate-secrets']);
  const keep = deps.secrets.keepPrevious;
  return sealPlan({
    procedure: 'rotate-secrets',
    gate: 'rotate-secrets',
    title: `Rotate ${keys.join(', ')} in ${file}`,
    target: `${file}, and the service that reads it (restarted)`,
    steps: [...ROTATE_SECRETS_STEPS],
    backups: [],
    notes: [
      `Now: ${current.join(', ')} (fingerprints: the first 8 hex digits of an HMAC-SHA-256 under this installation's key; values are never shown). New values: 32 random bytes each, base64.`,
      keep
        ? `The old values stay in the file as ${keys.map(previousKeyOf).join(', ')}, so data sealed with the old ones stays readable.`
        : 'secrets.keep_previous is off: the old values are not kept in the file, so data sealed with them becomes unreadable to the DMS.',
      `The current file is kept as ${file}.pre-<time> (mode 0600). If the service does not come back healthy, dr-bot says so and does not put the old values back by itself: they are presumed compromised.`,
      'The service is stopped and started: people may have to sign in again.',
    ],
    request: asked.length > 0 ? { keys: keys.join(' ') } : {},
    input: { envFile: file, keys: keys.join(','), current: current.join(','), keepPrevious: String(keep) },
    madeAt: deps.now().toISOString(),
    ...(expected !== undefined ? { expectedDurationMs: expected } : {}),
  });
}

/** What a rotation carries from step to step: only what may be shown (fingerprints, paths, flags). */
interface RotateSecretsContext {
  rotated: RotatedKey[];
  backupFile?: string;
  envWritten: boolean;
  serviceStopped: boolean;
  serviceStarted: boolean;
  downtimeStartedAt?: number;
  downtimeMs?: number;
}

/**
 * The steps of a confirmed `rotate-secrets` plan. The values themselves live only in this closure (never in
 * the context, the summary, a step's detail or an error): every detail and error is also scrubbed of them,
 * in case a service command prints its environment.
 *
 * A failure after the new file is in place is not rolled back: the old values are presumed compromised
 * (this is the breach procedure), and the likelier causes of an unhealthy start (the start command, the
 * database) would not be fixed by them. The summary says which backup to copy back, and how, for an
 * operator who decides otherwise.
 */
export function rotateSecretsRun(deps: RotateSecretsDeps, plan: Plan, origin: RunOrigin): RunSpec<RotateSecretsContext> {
  const file = plan.input.envFile!;
  const keys = plannedKeys(plan);
  const keepPrevious = plan.input.keepPrevious === 'true';
  const backupFile = `${file}.pre-${runLabel(deps.now())}`;
  const context: RotateSecretsContext = { rotated: [], envWritten: false, serviceStopped: false, serviceStarted: false };
  let original: EnvFileSnapshot | undefined;
  let pending: RotatedKey[] = [];
  const values: string[] = [];
  const redact = (text: string) => values.reduce((clean, value) => (value ? clean.split(value).join(`[secret ${fingerprint(value)}]`) : clean), text);
  const guarded = (step: StepDefinition<RotateSecretsContext>): StepDefinition<RotateSecretsContext> => ({
    name: step.name,
    run: async (ctx, signal) => {
      try {
        const detail = await step.run(ctx, signal);
        return typeof detail === 'string' ? redact(detail) : detail;
      } catch (error) {
        const text = errorText(error);
        if (redact(text) === text && error instanceof DrError) throw error;
        throw new DrError(error instanceof DrError ? error.code : 'INTERNAL', redact(text));
      }
    },
  });

  const steps: StepDefinition<RotateSecretsContext>[] = [
    {
      name: ROTATE_SECRETS_STEPS[0],
      run: async () => {
        original = await readEnvFile(file);
        const located = locateKeys(original.content, keys, file);
        for (const key of keys) values.push(located.get(key)!.assignment.value);
        // The plan was approved for these values: anything else means the file changed since it was shown.
        const now = keys.map((key) => `${key} ${fingerprint(located.get(key)!.assignment.value)}`).join(',');
        if (now !== plan.input.current) throw new DrError('CONFIG_INVALID', `${file} changed since the plan was made (now ${now}, the plan saw ${plan.input.current}); nothing was changed. Ask for a new plan.`);
        const mode = original.mode.toString(8).padStart(4, '0');
        return `${keys.join(', ')} found once each; mode ${mode}${original.mode !== 0o600 ? ' (the new file will be 0600)' : ''}`;
      },
    },
    {
      name: ROTATE_SECRETS_STEPS[1],
      run: async (ctx) => {
        await writePrivateFile(backupFile, original!.bytes);
        ctx.backupFile = backupFile;
        return `kept as ${backupFile} (mode 0600)`;
      },
    },
    {
      name: ROTATE_SECRETS_STEPS[2],
      run: async (ctx) => {
        // 32 bytes from the CSPRNG, base64: what `openssl rand -base64 32` gives (runbook §3.4).
        const rotations = keys.map((key) => ({ key, value: randomBytes(32).toString('base64') }));
        values.push(...rotations.map((r) => r.value));
        const rewritten = rewriteEnv(original!.content, rotations, { keepPrevious, file });
        pending = rotations.map((r) => ({ key: r.key, from: fingerprint(rewritten.previous.get(r.key)!), to: fingerprint(r.value) }));
        await replaceFileAtomically(file, rewritten.content, { owner: original!, expected: original!.bytes });
        ctx.envWritten = true;
        ctx.rotated = pending;
        // Read back as the DMS will: dotenv over the file now on disk.
        const onDisk = readEnvValues(await readFile(file, 'utf8'));
        const wrong = rotations.filter((r) => onDisk[r.key] !== r.value || (keepPrevious && onDisk[previousKeyOf(r.key)] !== rewritten.previous.get(r.key)));
        if (wrong.length > 0) throw new DrError('CONFIG_INVALID', `${file} does not read back with the new values for ${wrong.map((r) => r.key).join(', ')}`);
        const kept = keepPrevious ? `; old values kept as ${keys.map(previousKeyOf).join(', ')}` : '';
        return `${describeRotated(ctx.rotated)}${kept}; mode 0600`;
      },
    },
    {
      name: ROTATE_SECRETS_STEPS[3],
      run: async (ctx, signal) => {
        ctx.serviceStopped = true;
        ctx.downtimeStartedAt = Date.now();
        return runServiceCommand(deps.service, 'stop', signal);
      },
    },
    {
      name: ROTATE_SECRETS_STEPS[4],
      run: async (ctx, signal) => {
        const line = await runServiceCommand(deps.service, 'start', signal);
        ctx.serviceStarted = true;
        ctx.downtimeMs = Date.now() - ctx.downtimeStartedAt!;
        return line;
      },
    },
    { name: ROTATE_SECRETS_STEPS[5], run: (_ctx, signal) => waitForHealthy(deps.endpoints, deps.healthDeadlineMs, signal) },
  ];

  return {
    procedure: 'rotate-secrets',
    actor: origin.actor,
    ...runOriginFields(origin),
    context,
    steps: steps.map(guarded),
    onFailure: async (ctx) => {
      const notes: string[] = [];
      // The file on disk, not a flag, says whether it changed: a rename can succeed and its fsync then fail.
      const changed = ctx.envWritten || (original !== undefined && !(await readFile(file).then((bytes) => bytes.equals(original!.bytes), () => false)));
      if (!changed) {
        if (ctx.backupFile) {
          // An identical copy of a file that did not change is one more copy of the secrets on disk.
          await unlink(ctx.backupFile).then(
            () => notes.push(`removed the copy ${ctx.backupFile}, identical to the unchanged file`),
            () => notes.push(`${ctx.backupFile} (identical to the unchanged file, mode 0600) could not be removed`),
          );
          delete ctx.backupFile;
        }
        notes.push(`${file} was not changed: the old values are still in use`);
        return notes.map(redact);
      }
      ctx.envWritten = true;
      if (ctx.rotated.length === 0) ctx.rotated = pending;
      // The service must not stay down because a later step failed.
      if (ctx.serviceStopped && !ctx.serviceStarted) {
        const result = await deps.service.run('start').catch((error: unknown) => ({ exitCode: null, timedOut: false, ms: 0, command: 'start', output: errorText(error) }));
        notes.push(result.exitCode === 0 ? 'started the service again' : `could NOT start the service again: ${describeServiceResult(result)}`);
      }
      notes.push(
        ctx.serviceStopped
          ? `${file} HAS the new values (${describeRotated(ctx.rotated)}), but the service did not come back healthy on them; the old values were not put back`
          : `${file} HAS the new values (${describeRotated(ctx.rotated)}), but the service was not restarted and still runs on the old ones; the old values were not put back`,
      );
      return notes.map(redact);
    },
    summarize: (ctx, run) => summarizeRotation(ctx, run, file, keepPrevious),
  };
}

function describeRotated(rotated: readonly RotatedKey[]): string {
  return rotated.map((r) => `${r.key} ${r.from} → ${r.to}`).join('; ');
}

function summarizeRotation(ctx: RotateSecretsContext, run: Run, file: string, keepPrevious: boolean): Record<string, unknown> {
  const changed = ctx.envWritten;
  return {
    envFile: file,
    ...(changed ? { rotated: ctx.rotated, keptPrevious: keepPrevious } : {}),
    ...(changed && ctx.backupFile ? { envBackup: ctx.backupFile } : {}),
    ...(ctx.downtimeMs !== undefined ? { downtimeMs: ctx.downtimeMs } : {}),
    ...(run.status === 'failed' && changed
      ? {
          manual: [
            ctx.serviceStopped ? 'Find why the service is not healthy with the new values (service logs) and start it again.' : 'Restart the service so it loads the new values.',
            ctx.backupFile
              ? `Only if the old values are known to be safe: stop the service, copy ${ctx.backupFile} over ${file} (keep mode 0600), start the service.`
              : 'There is no backup of the old file.',
          ],
        }
      : {}),
  };
}
