import { createHash } from 'node:crypto';
import canonicalizeModule from 'canonicalize';

// The package is CommonJS whose typings claim an ES default export; at run time the import is the function.
const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

/** Procedures that only run behind a confirmation gate (DESIGN.md §5). */
export type GatedProcedure = 'restore-db' | 'restore-storage' | 'restore-all' | 'restore-undo' | 'isolate' | 'rotate-secrets';

/** The `gates.<name>` config entry a procedure answers to. */
export type GateName = 'restore' | 'isolate' | 'rotate-secrets';

/** The backup a plan restores from, as shown to whoever confirms it. */
export interface PlannedBackup {
  id: string;
  kind: 'db' | 'storage' | 'config';
  finishedAt: string;
  sizeBytes: number;
  /** When its files were last proven against their hashes (the backup's own check, or a later one). */
  verifiedAt: string;
  /** The moment the data in it is from: what an RPO is measured against. */
  pointInTime: string;
}

/**
 * What a destructive command will do, shown before anything runs. `input` and everything but the
 * time-dependent figures go into the plan hash, so an approval binds to exactly this plan.
 */
export interface Plan {
  procedure: GatedProcedure;
  gate: GateName;
  /** One line, e.g. `Restore the DMS database from db-20261126T030000Z-3f9a`. */
  title: string;
  /** What it changes, e.g. the live database's location. */
  target: string;
  steps: string[];
  backups: PlannedBackup[];
  /** Notes the confirmer must read (a manual step, a warning). */
  notes: string[];
  /** What was asked for (e.g. `{ backup: 'latest' }`): re-planning it tells whether the plan still holds. */
  request: Record<string, string>;
  /** What the procedure needs to run exactly this plan (backup ids, the kept database…). */
  input: Record<string, string>;
  /** Time-dependent: when the plan was made, the data-loss window it implies, and the expected duration. */
  madeAt: string;
  dataLossWindowMs?: number;
  expectedDurationMs?: number;
  /** SHA-256 (hex) over the stable part of the plan. */
  hash: string;
}

/** A plan before its hash is computed. */
export type UnhashedPlan = Omit<Plan, 'hash'>;

/** Hashes what the plan does (procedure, target, steps, backups, input), not when it was shown. */
export function planHash(plan: UnhashedPlan): string {
  const stable = { procedure: plan.procedure, target: plan.target, steps: plan.steps, backups: plan.backups.map((b) => b.id), request: plan.request, input: plan.input };
  return createHash('sha256').update(canonicalize(stable)!).digest('hex');
}

/** Seals a plan with its hash. */
export function sealPlan(plan: UnhashedPlan): Plan {
  return { ...plan, hash: planHash(plan) };
}
