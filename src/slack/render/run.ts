import type { KnownBlock } from '@slack/types';
import { formatDuration } from '../../config/duration.ts';
import type { Run } from '../../domain/run.ts';
import { RUN_MARK, runFacts, stepMark } from '../../render/plan.ts';
import { RUN_BLOCK } from '../ids.ts';
import { clampPlain, escapeInline, escapeMrkdwn } from '../../render/mrkdwn.ts';
import { fitMessage, type SlackMessage } from './limits.ts';

/** A run's checklist: each step with its mark and elapsed time, then the summary once it ends. */
export function runBlocks(run: Run, now: Date): SlackMessage {
  const elapsed = formatDuration(Math.max(0, (run.finishedAt ? Date.parse(run.finishedAt) : now.getTime()) - Date.parse(run.startedAt)));
  const head = `${RUN_MARK[run.status]} *${escapeInline(run.procedure)}* \`${run.id}\` — ${run.status === 'running' ? `running for ${elapsed}` : `${run.status} after ${elapsed}`}`;
  const steps = run.steps.map((step) => {
    const took = step.startedAt ? ` (${formatDuration(Math.max(0, (step.finishedAt ? Date.parse(step.finishedAt) : now.getTime()) - Date.parse(step.startedAt)))})` : '';
    return `${stepMark(step)} ${escapeInline(step.name)}${took}${step.detail ? ` — ${escapeInline(clampPlain(step.detail, 300))}` : ''}`;
  });
  const blocks: KnownBlock[] = [
    { type: 'section', block_id: RUN_BLOCK.head, text: { type: 'mrkdwn', text: head } },
    { type: 'section', block_id: RUN_BLOCK.steps, text: { type: 'mrkdwn', text: steps.join('\n') } },
  ];
  const facts = runFacts(run);
  if (run.status !== 'running' && facts.length) {
    blocks.push({ type: 'section', block_id: RUN_BLOCK.facts, text: { type: 'mrkdwn', text: facts.map(([label, value]) => `*${label}:* ${escapeMrkdwn(value)}`).join('\n') } });
  }
  return fitMessage({ text: `${escapeInline(run.procedure)} ${run.status}`, blocks });
}
