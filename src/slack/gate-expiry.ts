import type { WebClient } from '@slack/web-api';
import type { DispatchDeps } from '../commands/dispatch.ts';
import { errorText } from '../domain/errors.ts';
import { expireGates } from '../gates/gates.ts';
import { gateBlocks } from './render/gate.ts';

// Often enough that an expired plan stops offering its buttons within a minute of expiring.
const SWEEP_INTERVAL_MS = 30_000;

/**
 * Expires open gates past their time (audited by the gate module) and turns their plan messages into
 * "expired — nothing ran", so nobody keeps looking at a button that would be refused.
 */
export function startGateExpirySweep(client: WebClient, token: string, deps: DispatchDeps, intervalMs = SWEEP_INTERVAL_MS): { sweep(): Promise<void>; stop(): void } {
  const sweep = async () => {
    try {
      for (const gate of await expireGates(deps.gates, await deps.store.listOpenGates())) {
        if (!gate.messageTs) continue;
        await client.chat.update({ token, channel: gate.channel, ts: gate.messageTs, ...gateBlocks(gate, new Date()) }).catch((error: unknown) => {
          deps.logger.warn({ gate: gate.id, err: errorText(error) }, 'expired plan message not updated');
        });
      }
    } catch (error) {
      deps.logger.warn({ err: errorText(error) }, 'gate expiry sweep failed; trying again later');
    }
  };
  const timer = setInterval(() => void sweep(), intervalMs);
  timer.unref();
  return { sweep, stop: () => clearInterval(timer) };
}
