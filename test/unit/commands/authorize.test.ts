import { describe, expect, it } from 'vitest';
import { authorize } from '../../../src/commands/authorize.ts';
import type { Invocation } from '../../../src/commands/types.ts';
import { createRoleDirectory } from '../../../src/gates/roles.ts';

const roles = createRoleDirectory({ operators: ['U_OP'], approvers: ['U_APP'], security: ['U_SEC'] });
const from = (actor: string, source: Invocation['source'] = 'slack'): Invocation => ({ source, actor, channel: 'C1', text: '' });

describe('authorize', () => {
  it('lets anyone run read commands', async () => {
    await expect(authorize(roles, 'read', from('U_ANYONE'))).resolves.toBeUndefined();
  });

  it('needs any role for operate commands', async () => {
    for (const actor of ['U_OP', 'U_APP', 'U_SEC']) await expect(authorize(roles, 'operate', from(actor))).resolves.toBeUndefined();
    await expect(authorize(roles, 'operate', from('U_ANYONE'))).rejects.toThrow(/not listed in slack.roles/);
  });

  it('needs an operator for destructive commands', async () => {
    for (const command of ['restore db', 'restore storage', 'restore all', 'restore undo', 'isolate', 'rotate-secrets']) {
      await expect(authorize(roles, 'destructive', from('U_OP'), command)).resolves.toBeUndefined();
    }
    await expect(authorize(roles, 'destructive', from('U_APP'), 'restore db')).rejects.toThrow(/not listed in slack.roles.operators\. Nothing was run/);
  });

  it('lets the security responder isolate and rotate secrets (DESIGN.md §1), and restore nothing', async () => {
    for (const command of ['isolate', 'rotate-secrets']) await expect(authorize(roles, 'destructive', from('U_SEC'), command)).resolves.toBeUndefined();
    for (const command of ['restore db', 'restore storage', 'restore all', 'restore undo']) {
      await expect(authorize(roles, 'destructive', from('U_SEC'), command)).rejects.toThrow(/not listed in slack.roles.operators\. Nothing was run/);
    }
    // audit is an operate command: any role, security included.
    await expect(authorize(roles, 'operate', from('U_SEC'), 'audit')).resolves.toBeUndefined();
    await expect(authorize(roles, 'destructive', from('U_APP'), 'isolate')).rejects.toThrow(/not listed in slack.roles.operators or slack.roles.security/);
  });

  it('trusts the terminal (break-glass access is the machine login)', async () => {
    await expect(authorize(roles, 'destructive', from('root', 'cli'))).resolves.toBeUndefined();
  });
});

describe('role directory', () => {
  it('resolves user groups through Slack, caches them, and keeps the last known members when Slack fails', async () => {
    const errors: string[] = [];
    const directory = createRoleDirectory({ operators: ['S0ONCALL', 'U_DIRECT'], approvers: [], security: [] }, (group) => errors.push(group));
    // Without Slack (the CLI), a group matches nobody; listed users still do.
    expect(await directory.holds('operators', 'U_MEMBER')).toBe(false);
    expect(await directory.holds('operators', 'U_DIRECT')).toBe(true);
    let calls = 0;
    let fail = false;
    directory.useGroupLookup(async (group) => {
      calls += 1;
      if (fail) throw new Error('ratelimited');
      return group === 'S0ONCALL' ? ['U_MEMBER'] : [];
    });
    expect(await directory.holds('operators', 'U_MEMBER')).toBe(true);
    expect(await directory.holds('operators', 'U_OTHER')).toBe(false);
    expect(await directory.holdsAny('U_MEMBER')).toBe(true);
    expect(calls).toBe(1);
    fail = true;
    directory.useGroupLookup(async () => {
      throw new Error('ratelimited');
    });
    // A fresh lookup that fails and has nothing cached fails closed, and says so.
    expect(await directory.holds('operators', 'U_MEMBER')).toBe(false);
    expect(errors).toEqual(['S0ONCALL']);
  });
});
