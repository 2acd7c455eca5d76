// The one place where text from outside the bot (alert names, summaries, labels, annotations, incident titles,
// run output, user text) is made safe for Slack. Slack's mrkdwn treats &, < and > as markup: `<!channel>` pings a
// channel, `<@U…>` a person, `<https://evil|click>` disguises a link. Everything external goes through
// escapeMrkdwn (or escapeInline for one-line fields) and every link through mrkdwnLink; the bot's own markup
// (mentions of configured contacts, its own links) is added around the escaped text, never inside it.

// Characters that change how text looks without being seen: C0 controls (but tab and newline), DEL, the bidi
// embeddings, overrides, isolates and marks (which can reverse a line to disguise it), zero-width spaces and the
// BOM. The zero-width joiner and non-joiner stay: emoji sequences and several scripts need them.
const INVISIBLE_CLASS = '[\\u0000-\\u0008\\u000B-\\u001F\\u007F\\u061C\\u200B\\u200E\\u200F\\u202A-\\u202E\\u2060-\\u2064\\u2066-\\u2069\\uFEFF]';
const INVISIBLE = new RegExp(INVISIBLE_CLASS, 'g');
// The same class without the global flag: test() on a global regex would carry lastIndex from call to call.
const HAS_INVISIBLE = new RegExp(INVISIBLE_CLASS);

/** Marks text that was shortened to fit a Slack limit; the full text goes into the thread (or a file). */
export const CUT_MARK = '…(cut)';

/** External text without invisible or direction-changing characters (for plain_text fields, which need no escaping). */
export function visibleText(text: string): string {
  return text.replace(INVISIBLE, '');
}

/** External text for mrkdwn: invisible characters removed, then &, < and > escaped so nothing in it is live markup. */
export function escapeMrkdwn(text: string): string {
  return visibleText(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** escapeMrkdwn for a one-line field (a name, a label, a title): line breaks become spaces. */
export function escapeInline(text: string): string {
  return escapeMrkdwn(text.replace(/[\r\n\u2028\u2029]+/g, ' '));
}

/**
 * The URL Slack may link to: parsed (`new URL(u).href`), http or https only, and refused when its serialisation
 * still holds a character that would end or split Slack's `<url|label>` syntax (`|`, `<`, `>`) or whitespace.
 */
export function safeHref(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return undefined;
  const href = parsed.href;
  return /[|<>\s\u0000-\u001F\u007F]/.test(href) || HAS_INVISIBLE.test(href) ? undefined : href;
}

/** A link with the bot's own label; a URL that is not safe to link is shown as escaped text instead, never as a link. */
export function mrkdwnLink(url: string, label: string): string {
  const href = safeHref(url);
  const text = escapeInline(label).replace(/\|/g, '¦');
  return href ? `<${href}|${text}>` : `${text}: ${escapeInline(url)}`;
}

/** A user group id (`S…`) is mentioned as a group, a user id as a user, anything else as written (escaped). */
export function mention(contact: string): string {
  if (/^S[A-Z0-9]+$/.test(contact)) return `<!subteam^${contact}>`;
  if (/^[UW][A-Z0-9]+$/.test(contact)) return `<@${contact}>`;
  return escapeInline(contact);
}

/** A channel as a link when it is configured by id (`C…`/`G…`), else its name, escaped. */
export function channelRef(channel: string): string {
  return /^[CG][A-Z0-9]+$/.test(channel) ? `<#${channel}>` : escapeInline(channel);
}

/**
 * Shortens mrkdwn to at most `max` characters, ending with {@link CUT_MARK}: never inside an escape (`&lt;`), a
 * link or mention (`<…>`), or a surrogate pair, so what is left is still valid, inert markup.
 */
export function clampMrkdwn(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - CUT_MARK.length);
  const open = text.lastIndexOf('<', end - 1);
  if (open !== -1 && text.indexOf('>', open) >= end) end = open;
  const amp = text.lastIndexOf('&', end - 1);
  if (amp !== -1 && end - amp < 6 && !text.slice(amp, end).includes(';')) end = amp;
  if (/[\uD800-\uDBFF]/.test(text.charAt(end - 1))) end -= 1;
  return `${text.slice(0, end)}${CUT_MARK}`;
}

/** Shortens plain text to at most `max` characters, ending with {@link CUT_MARK}, never splitting a surrogate pair. */
export function clampPlain(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max <= CUT_MARK.length) return text.slice(0, max).replace(/[\uD800-\uDBFF]$/, '');
  let end = max - CUT_MARK.length;
  if (/[\uD800-\uDBFF]/.test(text.charAt(end - 1))) end -= 1;
  return `${text.slice(0, end)}${CUT_MARK}`;
}
