import { DrError } from '../domain/errors.ts';
import type { RoleDirectory } from '../gates/roles.ts';
import type { Invocation, Risk } from './types.ts';

/** Read commands are open to everyone; operate needs any role; destructive needs an operator. The terminal is trusted as break-glass. */
export async function authorize(roles: RoleDirectory, risk: Risk, invocation: Invocation): Promise<void> {
  if (risk === 'read' || invocation.source !== 'slack') return;
  const allowed = risk === 'destructive' ? await roles.holds('operators', invocation.actor) : await roles.holdsAny(invocation.actor);
  if (allowed) return;
  const key = risk === 'destructive' ? 'slack.roles.operators' : 'slack.roles (operators, approvers or security)';
  throw new DrError('NOT_AUTHORIZED', `\`${risk}\` commands need a role, and you are not listed in ${key}. Nothing was run.`);
}
