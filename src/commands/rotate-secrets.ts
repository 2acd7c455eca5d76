import { DrError } from '../domain/errors.ts';
import { openGate } from '../gates/gates.ts';
import { chooseKeys, KEY_NAME } from '../procedures/rotate-secrets.ts';
import { defineCommand } from './types.ts';

/**
 * `/dr rotate-secrets [KEY ...]` (runbook §3.4): new random values for the named keys of `secrets.keys`
 * (all of them by default) behind the rotate-secrets gate. A name that is not a configured key is refused
 * in the ack, with the keys that are, before anything opens the env file.
 */
export const rotateSecretsCommand = defineCommand({
  name: 'rotate-secrets',
  usage: 'rotate-secrets [KEY ...]',
  summary: 'generate new secrets into the env file and restart (gated)',
  risk: 'destructive',
  parse: (args, context) => {
    if (context) {
      const keys = chooseKeys(args, context.config.secrets.keys);
      // No name means every configured key: left empty, so the plan (and any re-plan) follows secrets.keys.
      return args.length > 0 ? keys : [];
    }
    // Without the config (a bare parser) only the shape can be checked; the plan checks membership again.
    const bad = args.find((key) => !KEY_NAME.test(key));
    if (bad !== undefined) throw new DrError('COMMAND_MALFORMED', `\`${bad.slice(0, 40).replace(/[<>&`*~]/g, '')}\` is not a key name (upper-case letters, digits and _, from secrets.keys). Nothing was run.`, { hint: 'rotate-secrets' });
    return [...new Set(args)];
  },
  run: async (deps, keys: string[], invocation) => {
    const plan = await deps.gated.plan('rotate-secrets', keys.length > 0 ? { keys: keys.join(' ') } : {});
    return { kind: 'plan', gate: await openGate(deps.gates, plan, invocation) };
  },
});
