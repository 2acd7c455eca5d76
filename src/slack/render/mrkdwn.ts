/** Slack mrkdwn treats &, < and > as markup (mentions, links); text from outside the bot is escaped with this. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
