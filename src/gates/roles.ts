/** The roles of `slack.roles`. */
export type RoleName = 'operators' | 'approvers' | 'security';

// The breach response of runbook §3.4 is the security responder's job (DESIGN.md §1): besides operators, they
// may ask for and confirm these destructive procedures (their gates and approvals still apply).
const SECURITY_PROCEDURES: ReadonlySet<string> = new Set(['isolate', 'rotate-secrets']);

/** The roles that may ask for and confirm a destructive procedure (`isolate`, `rotate-secrets`, `restore-db`, …). */
export function destructiveRoles(procedure: string): readonly RoleName[] {
  return SECURITY_PROCEDURES.has(procedure) ? ['operators', 'security'] : ['operators'];
}

/** Where those roles are configured, for refusals: `slack.roles.operators or slack.roles.security`. */
export function roleKeys(roles: readonly RoleName[]): string {
  return roles.map((role) => `slack.roles.${role}`).join(' or ');
}

/** Members of a Slack user group, as Slack lists them (`usergroups.users.list`). */
export type GroupLookup = (groupId: string) => Promise<string[]>;

/** Who holds which role: user ids listed directly, or members of the user groups listed. */
export interface RoleDirectory {
  holds(role: RoleName, user: string): Promise<boolean>;
  /** Holds at least one of these roles. */
  holdsOneOf(roles: readonly RoleName[], user: string): Promise<boolean>;
  /** Holds any role at all (what `operate` commands need). */
  holdsAny(user: string): Promise<boolean>;
  /** Lets Slack answer for user groups once it is connected (the CLI has none: groups then match nobody). */
  useGroupLookup(lookup: GroupLookup): void;
}

// A membership change in Slack is seen within this long; an incident must not wait on Slack for every click.
const GROUP_CACHE_MS = 5 * 60_000;

// Slack user-group ids start with S; user ids with U or W.
const isGroup = (id: string) => /^S[A-Z0-9]+$/.test(id);

/**
 * Roles from config. A group that cannot be resolved holds nobody (fails closed), unless its members were
 * resolved before: then the last known list stands, so a Slack hiccup does not lock operators out mid-incident.
 */
export function createRoleDirectory(roles: Readonly<Record<RoleName, readonly string[]>>, onLookupError: (group: string, error: unknown) => void = () => {}): RoleDirectory {
  let lookup: GroupLookup | undefined;
  const cache = new Map<string, { members: Set<string>; at: number }>();
  const membersOf = async (group: string): Promise<Set<string>> => {
    const cached = cache.get(group);
    if (cached && Date.now() - cached.at < GROUP_CACHE_MS) return cached.members;
    if (!lookup) return new Set();
    try {
      const members = new Set(await lookup(group));
      cache.set(group, { members, at: Date.now() });
      return members;
    } catch (error) {
      onLookupError(group, error);
      return cached?.members ?? new Set();
    }
  };
  const holds = async (role: RoleName, user: string): Promise<boolean> => {
    const listed = roles[role];
    if (listed.includes(user)) return true;
    for (const group of listed.filter(isGroup)) if ((await membersOf(group)).has(user)) return true;
    return false;
  };
  const holdsOneOf = async (list: readonly RoleName[], user: string): Promise<boolean> => {
    for (const role of list) if (await holds(role, user)) return true;
    return false;
  };
  return {
    holds,
    holdsOneOf,
    holdsAny: async (user) => (await holds('operators', user)) || (await holds('approvers', user)) || (await holds('security', user)),
    useGroupLookup(next) {
      lookup = next;
      cache.clear();
    },
  };
}
