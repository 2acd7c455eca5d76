import type { Config } from '../config/load.ts';
import { DrError } from '../domain/errors.ts';
import type { Invocation, Risk } from './types.ts';

/** Read commands are open to everyone; operate needs any role; destructive needs an operator. The terminal is trusted as break-glass. */
export function authorize(config: Config, risk: Risk, invocation: Invocation): void {
  if (risk === 'read' || invocation.source !== 'slack') return;
  const roles = config.slack.roles;
  const allowed = risk === 'destructive' ? roles.operators : [...roles.operators, ...roles.approvers, ...roles.security];
  if (allowed.includes(invocation.actor)) return;
  const key = risk === 'destructive' ? 'slack.roles.operators' : 'slack.roles (operators, approvers or security)';
  throw new DrError('NOT_AUTHORIZED', `\`${risk}\` commands need a role, and you are not listed in ${key}. Nothing was run.`);
}
