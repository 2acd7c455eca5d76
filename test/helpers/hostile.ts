import { expect } from 'vitest';
import type { SlackCall } from '../fakes/slack-api.ts';

/**
 * Strings an attacker (or a careless alert rule) can put into anything the bot shows in Slack: mentions that
 * ping a channel or a person, a disguised link, formatting, a 10 KB blob, a right-to-left override that reverses
 * what follows, and zero-width characters that hide inside a word.
 */
export const HOSTILE = {
  channel: '<!channel>',
  here: '<!here|x>',
  user: '<@U123>',
  link: '<https://evil.example|click>',
  bold: '*bold*',
  rtl: 'invoice\u202Egpj.exe',
  zeroWidth: 'ad\u200Bmin\uFEFF',
  tenKb: `${'<!channel>'.repeat(1_024)}`,
} as const;

/** Every hostile string but the long one, in one line: what a title, a summary or a label carries. */
export const HOSTILE_LINE = [HOSTILE.channel, HOSTILE.here, HOSTILE.user, HOSTILE.link, HOSTILE.bold, HOSTILE.rtl, HOSTILE.zeroWidth].join(' ');

// What must never reach Slack from input: live special mentions, user mentions and links, and invisible characters.
const LIVE = [/<!channel>/, /<!here/, /<@U123>/, /<https:\/\/evil/, /\u202E/, /\u200B/, /\uFEFF/];

/** Everything a Slack call shows: its text, blocks, view and attachments (not ids, metadata or other arguments). */
export function shownText(call: SlackCall): string {
  const b = call.body;
  return JSON.stringify([b.text, b.blocks, b.view, b.attachments].filter((part) => part !== undefined));
}

/** Asserts that no Slack call shows a hostile string live (each must be escaped or stripped), and that none was refused. */
export function expectNothingLive(calls: readonly SlackCall[]): void {
  const showing = calls.filter((c) => ['chat.postMessage', 'chat.update', 'chat.postEphemeral', 'views.publish', 'views.open', 'response_url'].includes(c.method));
  expect(showing.length).toBeGreaterThan(0);
  for (const call of showing) {
    const text = shownText(call);
    for (const live of LIVE) expect(text, `${call.method} shows ${live} live`).not.toMatch(live);
    // Every call fits Slack's limits: the fake refuses any that does not, exactly as Slack does.
    expect(call.failed && !call.injected ? call.response : 'ok', `${call.method} was refused`).toBe('ok');
  }
}
