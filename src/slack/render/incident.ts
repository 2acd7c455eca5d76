import type { KnownBlock } from '@slack/types';
import type { Incident } from '../../domain/incident.ts';
import { escapeMrkdwn } from '../../render/mrkdwn.ts';

/** An incident's parent message in the stakeholder channel: what, since when, by whom, and where it stands. */
export function incidentBlocks(incident: Incident): { text: string; blocks: KnownBlock[] } {
  const icon = incident.state === 'open' ? (incident.kind === 'security' ? '🛡️' : '🔥') : '✅';
  const state = incident.state === 'open' ? `open since ${incident.declaredAt}` : `resolved ${incident.resolvedAt} by <@${incident.resolvedBy}>`;
  const text = `${icon} Incident ${incident.id}: ${incident.title}`;
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `${icon} *Incident \`${incident.id}\`: ${escapeMrkdwn(incident.title)}*${incident.kind === 'security' ? ' (security)' : ''}` } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `Declared by <@${incident.declaredBy}>, ${state}. Updates, run summaries and escalations follow in this thread.` }] },
    ],
  };
}
