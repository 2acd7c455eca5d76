import type { KnownBlock } from '@slack/types';
import { describe, expect, it } from 'vitest';
import { CUT_MARK, escapeMrkdwn } from '../../../src/render/mrkdwn.ts';
import { fitMessage, fitView, overflowOf, replyChunks, SLACK_LIMITS } from '../../../src/slack/render/limits.ts';
import { HOSTILE } from '../../helpers/hostile.ts';

const long = (n: number) => 'x'.repeat(n);
type Loose = Record<string, any>;

describe('fitMessage', () => {
  it('leaves a message within every limit as it is (its mrkdwn sent verbatim), with nothing cut', () => {
    const message = fitMessage({ text: 'hi', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: long(SLACK_LIMITS.sectionText) } }] });
    expect(message.blocks[0]).toEqual({ type: 'section', text: { type: 'mrkdwn', text: long(3000), verbatim: true } });
    expect(overflowOf(message)).toEqual([]);
  });

  it('clamps every kind of text object to its own limit, and keeps the full text of each', () => {
    const blocks = [
      { type: 'header', text: { type: 'plain_text', text: long(151) } },
      { type: 'section', text: { type: 'mrkdwn', text: long(3001) }, fields: [{ type: 'mrkdwn', text: long(2001) }], accessory: { type: 'button', text: { type: 'plain_text', text: long(76) }, action_id: 'a' } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: long(3001) }] },
      {
        type: 'actions',
        elements: [
          {
            type: 'button',
            action_id: 'b',
            text: { type: 'plain_text', text: 'Approve' },
            confirm: { title: { type: 'plain_text', text: long(101) }, text: { type: 'mrkdwn', text: long(301) }, confirm: { type: 'plain_text', text: long(31) }, deny: { type: 'plain_text', text: long(31) } },
          },
          { type: 'checkboxes', action_id: 'c', options: [{ text: { type: 'mrkdwn', text: long(76) }, value: 'v', description: { type: 'plain_text', text: long(76) } }] },
        ],
      },
    ] as unknown as KnownBlock[];
    const fitted = fitMessage({ text: long(40_001), blocks }) as Loose;
    expect(fitted.text).toHaveLength(40_000);
    const b = fitted.blocks;
    const lengths = [
      b[0].text.text.length,
      b[1].text.text.length,
      b[1].fields[0].text.length,
      b[1].accessory.text.text.length,
      b[2].elements[0].text.length,
      b[3].elements[0].confirm.title.text.length,
      b[3].elements[0].confirm.text.text.length,
      b[3].elements[0].confirm.confirm.text.length,
      b[3].elements[0].confirm.deny.text.length,
      b[3].elements[1].options[0].text.text.length,
      b[3].elements[1].options[0].description.text.length,
    ];
    expect(lengths).toEqual([150, 3000, 2000, 75, 3000, 100, 300, 30, 30, 75, 75]);
    expect(b[1].text.text.endsWith(CUT_MARK)).toBe(true);
    expect(b[3].elements[0].text.text).toBe('Approve');
    expect(overflowOf(fitted).map((t) => t.length)).toEqual([40_001, 151, 3001, 2001, 76, 3001, 101, 301, 31, 31, 76, 76]);
  });

  it('keeps 50 blocks at most, the last saying how many more there were', () => {
    const blocks = Array.from({ length: 60 }, (_, i): KnownBlock => ({ type: 'section', text: { type: 'mrkdwn', text: `part ${i}` } }));
    const fitted = fitMessage({ text: 'many', blocks });
    expect(fitted.blocks).toHaveLength(50);
    expect(JSON.stringify(fitted.blocks.at(-1))).toContain('11 more parts did not fit');
    expect(overflowOf(fitted)).toEqual(Array.from({ length: 11 }, (_, i) => `part ${49 + i}`));
  });

  it('gives an empty text object a dash (Slack refuses empty ones too)', () => {
    const fitted = fitMessage({ text: '', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '' } }] }) as Loose;
    expect(fitted.blocks[0].text.text).toBe('–');
    expect(fitted.text).not.toBe('');
  });

  it('cuts escaped hostile text without leaving a broken escape', () => {
    const fitted = fitMessage({ text: 'x', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: escapeMrkdwn(HOSTILE.tenKb) } }] }) as Loose;
    const text: string = fitted.blocks[0].text.text;
    expect(text.length).toBeLessThanOrEqual(3000);
    expect(text.replace(CUT_MARK, '')).toMatch(/^(&lt;!channel&gt;)+$/);
  });
});

describe('fitView', () => {
  it('allows 100 blocks in a view and clamps its title to 24 characters', () => {
    const view = fitView({ type: 'modal' as const, title: { type: 'plain_text' as const, text: long(30) }, blocks: Array.from({ length: 120 }, (): KnownBlock => ({ type: 'divider' })) });
    expect(view.blocks).toHaveLength(100);
    expect(view.title.text).toHaveLength(24);
  });
});

describe('replyChunks', () => {
  it('splits a long detail into replies within Slack’s message limit, at line ends when it can', () => {
    const lines = Array.from({ length: 3000 }, (_, i) => `line ${i} ${long(30)}`).join('\n');
    const chunks = replyChunks(lines);
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) expect(chunk.length).toBeLessThanOrEqual(SLACK_LIMITS.messageText);
    expect(chunks.join('\n')).toBe(lines);
    expect(replyChunks('short')).toEqual(['short']);
    expect(replyChunks(long(100), 30)).toEqual([long(30), long(30), long(30), long(10)]);
  });
});
