import type { KnownBlock } from '@slack/types';
import type { Incident } from '../../domain/incident.ts';
import { escapeInline, mention } from '../../render/mrkdwn.ts';
import { fitMessage, type SlackMessage } from './limits.ts';

/** An incident's parent message in the stakeholder channel: what, since when, by whom, and where it stands. */
export function incidentBlocks(incident: Incident): SlackMessage {
  const icon = incident.state === 'open' ? (incident.kind === 'security' ? '🛡️' : '🔥') : '✅';
  const state = incident.state === 'open' ? `open since ${incident.declaredAt}` : `resolved ${incident.resolvedAt} by ${mention(incident.resolvedBy ?? 'someone')}`;
  const text = `${icon} Incident ${incident.id}: ${escapeInline(incident.title)}`;
  const blocks: KnownBlock[] = [
      { type: 'section', text: { type: 'mrkdwn', text: `${icon} *Incident \`${incident.id}\`: ${escapeInline(incident.title)}*${incident.kind === 'security' ? ' (security)' : ''}` } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `Declared by ${mention(incident.declaredBy)}, ${state}. Updates, run summaries and escalations follow in this thread.` }] },
  ];
  return fitMessage({ text, blocks });
}
