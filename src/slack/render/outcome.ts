import type { KnownBlock } from '@slack/types';
import type { CommandOutcome } from '../../commands/types.ts';
import { backupListBlocks, backupTakenBlocks } from './backups.ts';
import { helpBlocks } from './help.ts';
import { auditBlocks } from './audit.ts';
import { checksumBlocks } from './checksums.ts';
import { historyBlocks } from './history.ts';
import { statusBlocks } from './status.ts';
import { gateBlocks } from './gate.ts';
import { alertListBlocks } from './alert.ts';
import { checklistBlocks } from './checklist.ts';
import { incidentLine } from '../../render/plan.ts';
import { escapeMrkdwn } from '../../render/mrkdwn.ts';
import { fitMessage, type SlackMessage } from './limits.ts';
import { runBlocks } from './run.ts';

/** Picks the renderer for a command's outcome. */
export function outcomeBlocks(outcome: CommandOutcome): SlackMessage {
  switch (outcome.kind) {
    case 'help':
      return helpBlocks(outcome.entries);
    case 'status':
      return statusBlocks(outcome.report);
    case 'history':
      return historyBlocks(outcome.entries, outcome.verdict);
    case 'audit':
      return auditBlocks(outcome);
    case 'checksums':
      return checksumBlocks(outcome.report);
    case 'backup':
      return backupTakenBlocks(outcome.taken, outcome.failed);
    case 'alerts':
      return alertListBlocks(outcome.alerts, new Date(outcome.now));
    case 'incident': {
      const line = escapeMrkdwn(incidentLine(outcome));
      const blocks: KnownBlock[] = [{ type: 'section', text: { type: 'mrkdwn', text: `✅ ${line}` } }];
      return fitMessage({ text: line, blocks });
    }
    case 'checklist':
      return checklistBlocks(outcome.incident);
    case 'plan':
      return gateBlocks(outcome.gate, new Date());
    case 'run':
      return runBlocks(outcome.run, new Date());
    case 'backups':
      return backupListBlocks(outcome.rows, outcome.now, outcome.violations, { ...(outcome.rebuilt === undefined ? {} : { rebuilt: outcome.rebuilt }), ...(outcome.verification ? { verification: outcome.verification } : {}), ...(outcome.fromRepository ? { fromRepository: outcome.fromRepository } : {}) });
  }
}
