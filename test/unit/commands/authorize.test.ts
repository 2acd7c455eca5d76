import { describe, expect, it } from 'vitest';
import { authorize } from '../../../src/commands/authorize.ts';
import type { Invocation } from '../../../src/commands/types.ts';
import { loadConfig } from '../../../src/config/load.ts';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const dir = mkdtempSync(path.join(tmpdir(), 'dr-auth-'));
writeFileSync(path.join(dir, 'dr.yml'), 'slack:\n  roles:\n    operators: [U_OP]\n    approvers: [U_APP]\n    security: [U_SEC]\n');
const config = loadConfig({ DR_CONFIG: path.join(dir, 'dr.yml') });
const from = (actor: string, source: Invocation['source'] = 'slack'): Invocation => ({ source, actor, channel: 'C1', text: '' });

describe('authorize', () => {
  it('lets anyone run read commands', () => {
    expect(() => authorize(config, 'read', from('U_ANYONE'))).not.toThrow();
  });

  it('lets any role holder run operate commands, and nobody else', () => {
    for (const actor of ['U_OP', 'U_APP', 'U_SEC']) expect(() => authorize(config, 'operate', from(actor))).not.toThrow();
    expect(() => authorize(config, 'operate', from('U_ANYONE'))).toThrow(/not listed in slack.roles/);
  });

  it('keeps destructive commands to operators', () => {
    expect(() => authorize(config, 'destructive', from('U_OP'))).not.toThrow();
    expect(() => authorize(config, 'destructive', from('U_APP'))).toThrow(/slack.roles.operators/);
  });

  it('trusts the terminal, which is the break-glass path', () => {
    expect(() => authorize(config, 'destructive', from('root', 'cli'))).not.toThrow();
  });
});
