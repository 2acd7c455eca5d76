import type { KnownBlock } from '@slack/types';
import type { WebClient } from '@slack/web-api';
import type { AlertEvent, AlertSink } from '../ports/alerts.ts';
import { escapeMrkdwn } from './render/mrkdwn.ts';

/** Block Kit for an alert post. */
export function alertBlocks(event: AlertEvent): { text: string; blocks: KnownBlock[] } {
  const icon = event.severity === 'critical' ? '🚨' : '⚠️';
  const text = `${icon} ${event.alert}: ${event.summary}`;
  const details = Object.entries(event.details).map(([key, value]) => `• *${escapeMrkdwn(key)}*: ${escapeMrkdwn(value)}`);
  return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `${icon} *${event.alert}* (${event.severity}) — ${escapeMrkdwn(event.summary)}\n${details.join('\n')}`.slice(0, 3000) } }] };
}

/** The minimal alert router: critical alerts to `slack.channels.critical`, warnings to `slack.channels.warning`. */
export function slackAlertSink(client: WebClient, botToken: string, channels: { critical: string; warning: string }): AlertSink {
  return {
    async raise(event) {
      await client.chat.postMessage({ token: botToken, channel: event.severity === 'critical' ? channels.critical : channels.warning, ...alertBlocks(event) });
    },
  };
}
