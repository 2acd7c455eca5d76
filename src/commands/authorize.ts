import { DrError } from '../domain/errors.ts';
import { destructiveRoles, roleKeys, type RoleDirectory } from '../gates/roles.ts';
import type { Invocation, Risk } from './types.ts';

/**
 * Read commands are open to everyone; operate needs any role; destructive needs an operator, or for `isolate` and
 * `rotate-secrets` a security responder too (`command` is the command's name). The terminal is trusted as break-glass.
 */
export async function authorize(roles: RoleDirectory, risk: Risk, invocation: Invocation, command = ''): Promise<void> {
  if (risk === 'read' || invocation.source !== 'slack') return;
  const needed = risk === 'destructive' ? destructiveRoles(command) : undefined;
  const allowed = needed ? await roles.holdsOneOf(needed, invocation.actor) : await roles.holdsAny(invocation.actor);
  if (allowed) return;
  const key = needed ? roleKeys(needed) : 'slack.roles (operators, approvers or security)';
  throw new DrError('NOT_AUTHORIZED', `\`${risk}\` commands need a role, and you are not listed in ${key}. Nothing was run.`);
}
