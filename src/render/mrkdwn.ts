/** Slack mrkdwn treats &, < and > as markup (mentions, links); text from outside the bot is escaped with this. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A user group id (`S…`) is mentioned as a group, a user id as a user, anything else as written. */
export function mention(contact: string): string {
  if (/^S[A-Z0-9]+$/.test(contact)) return `<!subteam^${contact}>`;
  if (/^[UW][A-Z0-9]+$/.test(contact)) return `<@${contact}>`;
  return escapeMrkdwn(contact);
}
