import type { KnownBlock } from '@slack/types';
import { formatDuration } from '../../config/duration.ts';
import { formatBytes } from '../../domain/format.ts';
import type { ChecksumReport } from '../../procedures/verify-checksums.ts';
import { CHECKSUM_BLOCK } from '../ids.ts';
import { failureLines, groupFailures } from '../../domain/document-failures.ts';
import { escapeMrkdwn } from '../../render/mrkdwn.ts';
import { fitMessage, type SlackMessage } from './limits.ts';

/** Problems listed in the message; beyond this many they travel as a CSV file. */
export const LISTED_PROBLEMS = 50;

/** Block Kit for `/dr verify checksums`: the verdict, and the first problems by document id. */
export function checksumBlocks(report: ChecksumReport): SlackMessage {
  const took = `${formatBytes(report.bytes)} in ${formatDuration(report.ms)}`;
  const text = report.problems.length === 0
    ? `✅ All ${report.checked} documents match their recorded SHA-256 (${took}).`
    : `❌ ${report.problems.length} of ${report.checked} documents do not match their recorded SHA-256 (${took}).`;
  // The causes first, grouped (`12 × permission denied: documents …`), then the documents one by one.
  const causes = failureLines(groupFailures(report.problems)).map((line) => `*${escapeMrkdwn(line)}*`);
  const lines = [...causes, ...report.problems.slice(0, LISTED_PROBLEMS).map((p) => `• document ${p.id} \`${escapeMrkdwn(p.path)}\` — ${escapeMrkdwn(p.actual === 'missing' || p.actual.startsWith('unreadable') ? p.actual : `is ${p.actual.slice(0, 12)}…, recorded ${p.expected.slice(0, 12)}…`)}`)];
  if (report.problems.length > LISTED_PROBLEMS) lines.push(`…and ${report.problems.length - LISTED_PROBLEMS} more in the attached CSV`);
  // A section holds at most 3000 characters: fifty problems take two or three.
  const sections: string[] = [text];
  for (const line of lines) {
    if (sections.at(-1)!.length + line.length + 1 > 2900) sections.push(line);
    else sections[sections.length - 1] += `\n${line}`;
  }
  return fitMessage({
    text,
    blocks: sections.map((chunk, index): KnownBlock => ({ type: 'section', block_id: index === 0 ? CHECKSUM_BLOCK.result : `${CHECKSUM_BLOCK.result}_${index}`, text: { type: 'mrkdwn', text: chunk } })),
  });
}
