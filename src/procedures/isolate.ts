import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, copyFile, mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { formatBytes } from '../domain/format.ts';
import { DrError, errorText } from '../domain/errors.ts';
import type { Incident } from '../domain/incident.ts';
import { sealPlan, type Plan } from '../domain/plan.ts';
import type { AlertSink } from '../ports/alerts.ts';
import type { DatabaseDumper, DocumentSource } from '../ports/dms.ts';
import type { ServiceCommandResult, ServiceControl } from '../ports/service.ts';
import { type RunSpec, runOriginFields } from './engine.ts';
import { escapeMrkdwn } from '../render/mrkdwn.ts';
import { declareIncident, noteToOpenIncident, type IncidentDeps } from './incidents.ts';
import { expectedDurationMs, runLabel } from './plan-helpers.ts';
import { describeServiceResult } from './service-steps.ts';
import { sha256OfFile, tapStream } from '../backup/file-hash.ts';
import type { FileCipher } from '../ports/file-cipher.ts';

/** What `isolate` needs (runbook §3.4): evidence sources, the isolation commands, and where to raise the alarm. */
export interface IsolateDeps {
  incidents: IncidentDeps;
  alerts: AlertSink;
  service: ServiceControl;
  /** `service.isolate`: the operator's commands that take the DMS off the network. */
  isolateCommands: readonly string[];
  dumper: DatabaseDumper;
  documents: DocumentSource;
  envFile: string;
  evidenceDir: string;
  /** DR_BACKUP_KEY as a cipher: the evidence (a database copy, the env file) is then kept only encrypted. */
  cipher?: FileCipher;
  systemName: string;
  now: () => Date;
}

const ISOLATE_STEPS = [
  'declare a security incident',
  'preserve evidence (logs, database, uploads listing, env file)',
  'run the isolation commands',
  'alert security and page',
  'check that every isolation command succeeded',
] as const;

/** The plan of `isolate`: evidence first, then the isolation commands, then the alarm. */
export async function planIsolate(deps: IsolateDeps): Promise<Plan> {
  const expected = await expectedDurationMs(deps.incidents.store, ['isolate']);
  return sealPlan({
    procedure: 'isolate',
    gate: 'isolate',
    title: `Isolate ${deps.systemName} (security breach)`,
    target: deps.systemName,
    steps: [...ISOLATE_STEPS],
    backups: [],
    notes: [`Evidence goes to ${deps.evidenceDir}, read-only, with a SHA-256 manifest recording who and when.`, `Isolation commands: ${deps.isolateCommands.length ? deps.isolateCommands.map((c) => `\`${c}\``).join(', ') : 'none configured (service.isolate)'}.`],
    request: {},
    input: { commands: String(deps.isolateCommands.length) },
    madeAt: deps.now().toISOString(),
    ...(expected !== undefined ? { expectedDurationMs: expected } : {}),
  });
}

interface IsolateContext {
  incident?: Incident;
  evidence?: { dir: string; files: number; bytes: number; manifestSha256: string };
  results: ServiceCommandResult[];
}

/** The steps of a confirmed `isolate` plan. A failing isolation command is reported, and the rest still run. */
export function isolateRun(deps: IsolateDeps, plan: Plan, origin: { actor: string; gateId?: string; channel?: string; messageTs?: string }): RunSpec<IsolateContext> {
  const context: IsolateContext = { results: [] };
  const failed = () => context.results.filter((r) => r.exitCode !== 0 || r.timedOut);
  return {
    procedure: 'isolate',
    actor: origin.actor,
    ...runOriginFields(origin),
    context,
    steps: [
      {
        name: ISOLATE_STEPS[0],
        run: async (ctx) => {
          const open = await deps.incidents.store.currentIncident();
          ctx.incident = open ?? (await declareIncident(deps.incidents, { title: `Security breach: isolation of ${deps.systemName}`, kind: 'security', actor: origin.actor }));
          return open ? `incident ${open.id} is already open; using it` : `declared ${ctx.incident.id}`;
        },
      },
      {
        name: ISOLATE_STEPS[1],
        run: async (ctx, signal) => {
          ctx.evidence = await preserveEvidence(deps, ctx.incident!, origin.actor, signal);
          return `${ctx.evidence.files} files, ${formatBytes(ctx.evidence.bytes)} in ${ctx.evidence.dir}, read-only; manifest SHA-256 ${ctx.evidence.manifestSha256.slice(0, 12)}`;
        },
      },
      {
        name: ISOLATE_STEPS[2],
        run: async (ctx, signal) => {
          for (const command of deps.isolateCommands) ctx.results.push(await deps.service.runCommand(command, signal));
          const bad = failed();
          return `${ctx.results.length - bad.length} of ${ctx.results.length} succeeded${bad.length ? `; FAILED: ${bad.map((r) => `\`${r.command}\` (${describeServiceResult(r)})`).join('; ')}` : ''}`;
        },
      },
      {
        name: ISOLATE_STEPS[3],
        run: async (ctx) => {
          const bad = failed();
          const summary = `${deps.systemName} isolated by ${origin.actor} (incident ${ctx.incident!.id})${bad.length ? ` — ${bad.length} isolation command(s) FAILED` : ''}; evidence preserved in ${ctx.evidence!.dir}`;
          await deps.alerts.raise({ alert: 'security_isolation', severity: 'critical', summary, details: { category: 'security', incident: ctx.incident!.id, evidence: ctx.evidence!.dir, failed: bad.map((r) => r.command).join(', ') || 'none' }, key: ctx.incident!.id });
          await noteToOpenIncident(deps.incidents, `🛡️ ${escapeMrkdwn(summary)}`);
          return 'posted to the security and critical channels, paged as critical';
        },
      },
      {
        name: ISOLATE_STEPS[4],
        run: async () => {
          const bad = failed();
          if (bad.length) throw new DrError('RESTORE_FAILED', `isolation is incomplete: ${bad.map((r) => `\`${r.command}\``).join(', ')} failed — isolate by hand now`);
          return 'all isolation commands exited 0';
        },
      },
    ],
    summarize: (ctx) => ({
      ...(ctx.incident ? { incident: ctx.incident.id } : {}),
      ...(ctx.evidence ? { evidence: ctx.evidence.dir } : {}),
      isolationCommands: ctx.results.map((r) => ({ command: r.command, exitCode: r.exitCode, timedOut: r.timedOut })),
    }),
  };
}

/**
 * Takes the evidence before anything changes (chain of custody): service logs, a copy of the database, the
 * uploads listing and the env file, a manifest with every file's SHA-256, who and when; then read-only.
 */
async function preserveEvidence(deps: IsolateDeps, incident: Incident, actor: string, signal: AbortSignal): Promise<{ dir: string; files: number; bytes: number; manifestSha256: string }> {
  const collectedAt = deps.now();
  const dir = path.join(deps.evidenceDir, `${incident.id}-${runLabel(collectedAt)}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const notes: string[] = [];
  const logs = await deps.service.runToFile('logs', path.join(dir, 'service-logs.txt'), signal);
  if (logs.exitCode !== 0) notes.push(`service.logs: ${describeServiceResult(logs)}`);
  try {
    await deps.dumper.dumpTo(path.join(dir, `database.${deps.dumper.extension}`), signal);
  } catch (error) {
    notes.push(`database copy failed: ${errorText(error)}`);
  }
  const listing = await open(path.join(dir, 'uploads-listing.csv'), 'w', 0o600);
  try {
    await listing.write('path,size_bytes,mtime\n');
    for await (const batch of deps.documents.list()) {
      for (const entry of batch) await listing.write(`${JSON.stringify(entry.path)},${entry.sizeBytes},${new Date(entry.mtimeMs).toISOString()}\n`);
    }
  } catch (error) {
    notes.push(`uploads listing incomplete: ${errorText(error)}`);
  } finally {
    await listing.close();
  }
  try {
    await copyFile(deps.envFile, path.join(dir, 'env'));
  } catch (error) {
    notes.push(`env file not copied: ${errorText(error)}`);
  }
  const files = [];
  for (const name of (await readdir(dir)).sort()) {
    const file = path.join(dir, name);
    if (!deps.cipher) {
      files.push({ name, size_bytes: (await stat(file)).size, sha256: await sha256OfFile(file) });
      continue;
    }
    // Kept only encrypted (`age -d` opens each file): the manifest names the stored file and hashes both forms.
    const plaintextSha256 = await encryptEvidence(deps.cipher, file, `${file}.age`);
    files.push({ name: `${name}.age`, size_bytes: (await stat(`${file}.age`)).size, sha256: await sha256OfFile(`${file}.age`), plaintext_sha256: plaintextSha256 });
  }
  const manifest = {
    incident: incident.id,
    system: deps.systemName,
    collected_by: actor,
    collected_at: collectedAt.toISOString(),
    files,
    notes,
    ...(deps.cipher ? { encryption: deps.cipher.info } : {}),
  };
  const manifestFile = path.join(dir, 'manifest.json');
  const handle = await open(manifestFile, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(manifest, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  // Read-only from here on: whoever looks at it later can trust it is what was collected.
  for (const name of await readdir(dir)) await chmod(path.join(dir, name), 0o400);
  await chmod(dir, 0o500);
  return { dir, files: files.length, bytes: files.reduce((sum, f) => sum + f.size_bytes, 0), manifestSha256: await sha256OfFile(manifestFile) };
}

// Encrypts one evidence file beside itself and removes the plaintext; returns the plaintext's SHA-256.
async function encryptEvidence(cipher: FileCipher, file: string, target: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), tapStream((chunk) => hash.update(chunk)), cipher.encrypt(), createWriteStream(target, { flags: 'wx', mode: 0o600 }));
  await rm(file);
  return hash.digest('hex');
}
