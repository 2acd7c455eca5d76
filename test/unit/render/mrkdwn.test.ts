import { describe, expect, it } from 'vitest';
import { channelRef, clampMrkdwn, clampPlain, CUT_MARK, escapeInline, escapeMrkdwn, mention, mrkdwnLink, safeHref, visibleText } from '../../../src/render/mrkdwn.ts';
import { HOSTILE } from '../../helpers/hostile.ts';

describe('escapeMrkdwn', () => {
  it('leaves no hostile string live: mentions, special mentions and links become inert text', () => {
    expect(escapeMrkdwn(HOSTILE.channel)).toBe('&lt;!channel&gt;');
    expect(escapeMrkdwn(HOSTILE.here)).toBe('&lt;!here|x&gt;');
    expect(escapeMrkdwn(HOSTILE.user)).toBe('&lt;@U123&gt;');
    expect(escapeMrkdwn(HOSTILE.link)).toBe('&lt;https://evil.example|click&gt;');
    // & first, so an already escaped entity in the input is shown as typed, not unescaped by Slack.
    expect(escapeMrkdwn('a &lt; b & c')).toBe('a &amp;lt; b &amp; c');
    const tenKb = escapeMrkdwn(HOSTILE.tenKb);
    expect(tenKb).not.toMatch(/<|>/);
    expect(tenKb).toHaveLength(HOSTILE.tenKb.length * 1.6);
  });

  it('strips right-to-left overrides, zero-width spaces, the BOM and control characters, and keeps the joiner emoji need', () => {
    expect(escapeMrkdwn(HOSTILE.rtl)).toBe('invoicegpj.exe');
    expect(escapeMrkdwn(HOSTILE.zeroWidth)).toBe('admin');
    expect(escapeMrkdwn('a\u0000b\u0007c\u001Bd\u007Fe\u2066f\u2069')).toBe('abcdef');
    expect(escapeMrkdwn('tab\tand\nnewline')).toBe('tab\tand\nnewline');
    expect(visibleText('👩\u200D💻')).toBe('👩\u200D💻');
    // Right-to-left text itself is left alone: only the invisible controls go.
    expect(escapeMrkdwn('שלום עולם')).toBe('שלום עולם');
  });

  it('leaves formatting characters as typed: they cannot ping or link', () => {
    expect(escapeMrkdwn(HOSTILE.bold)).toBe('*bold*');
  });

  it('escapeInline keeps a name on one line', () => {
    expect(escapeInline('db\ndown\r\nnow\u2028<x>')).toBe('db down now &lt;x&gt;');
  });
});

describe('links', () => {
  it('links only a parsed http(s) URL, serialised by URL itself', () => {
    expect(safeHref('https://grafana.example/d/abc?from=now-1h')).toBe('https://grafana.example/d/abc?from=now-1h');
    expect(safeHref('  HTTP://Example.COM/a b')).toBe('http://example.com/a%20b');
    expect(safeHref('http://Example.COM/a<b>')).toBe('http://example.com/a%3Cb%3E');
    for (const bad of ['javascript:alert(1)', 'data:text/html,x', 'file:///etc/passwd', 'ftp://x', 'not a url', '', 'https://evil.example|click', 'https://x/?a=1|2', 'https://x/#<!channel>|y']) {
      expect(safeHref(bad), bad).toBeUndefined();
    }
  });

  it('shows a refused URL as escaped text, never as a link', () => {
    expect(mrkdwnLink('https://runbooks.example/db', 'runbook')).toBe('<https://runbooks.example/db|runbook>');
    expect(mrkdwnLink('https://x/?q=1|<!channel>', 'source')).toBe('source: https://x/?q=1|&lt;!channel&gt;');
    expect(mrkdwnLink('javascript:alert(1)', 'source')).toBe('source: javascript:alert(1)');
    // The label cannot end the link early either.
    expect(mrkdwnLink('https://x/', 'a|b>c')).toBe('<https://x/|a¦b&gt;c>');
  });

  it('mentions only real ids; anything else is escaped text', () => {
    expect(mention('U0ONCALL')).toBe('<@U0ONCALL>');
    expect(mention('S0DBAS')).toBe('<!subteam^S0DBAS>');
    expect(mention('<!channel>')).toBe('&lt;!channel&gt;');
    expect(mention('dr-bot')).toBe('dr-bot');
    expect(channelRef('C0CRITICAL')).toBe('<#C0CRITICAL>');
    expect(channelRef('#dr-critical')).toBe('#dr-critical');
    expect(channelRef('<!here>')).toBe('&lt;!here&gt;');
  });
});

describe('clamping', () => {
  it('cuts mrkdwn to the limit with the mark, never inside an escape, a link or a surrogate pair', () => {
    expect(clampMrkdwn('short', 10)).toBe('short');
    const cut = clampMrkdwn('x'.repeat(50), 20);
    expect(cut).toBe(`${'x'.repeat(20 - CUT_MARK.length)}${CUT_MARK}`);
    expect(cut).toHaveLength(20);
    // The cut would fall inside `&lt;`: it moves before it.
    expect(clampMrkdwn(`abcdefghijkl&lt;${'y'.repeat(40)}`, 20)).toBe(`abcdefghijkl${CUT_MARK}`);
    // …or inside a mention or link: it moves before the `<`.
    expect(clampMrkdwn(`abcdef <https://example.com/|x> ${'y'.repeat(40)}`, 20)).toBe(`abcdef ${CUT_MARK}`);
    // …or between the halves of an emoji.
    const emoji = clampMrkdwn(`${'a'.repeat(12)}😀${'b'.repeat(40)}`, 19);
    expect(emoji).toBe(`${'a'.repeat(12)}${CUT_MARK}`);
    for (const limit of [7, 8, 30, 3000]) expect(clampMrkdwn(escapeMrkdwn(HOSTILE.tenKb), limit).length).toBeLessThanOrEqual(limit);
  });

  it('cuts plain text the same way', () => {
    expect(clampPlain('Approve this plan now please', 16)).toBe(`Approve th${CUT_MARK}`);
    expect(clampPlain(`${'a'.repeat(9)}😀xxxxxxxx`, 16)).toBe(`${'a'.repeat(9)}${CUT_MARK}`);
    expect(clampPlain('abcdef', 3)).toBe('abc');
  });
});
