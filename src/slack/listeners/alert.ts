import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import type { DispatchDeps } from '../../commands/dispatch.ts';
import { errorText, toDrError } from '../../domain/errors.ts';
import { declareIncident } from '../../procedures/incidents.ts';
import { isSecurityAlert } from '../../alerts/router.ts';
import { acknowledgeAlert } from '../../alerts/ingest-signals.ts';
import { ALERT_ACTION } from '../ids.ts';
import { channelRef, escapeMrkdwn } from '../../render/mrkdwn.ts';

/** Acknowledge on an alert message: the alert (and its PagerDuty incident) is acknowledged; escalation stops. */
export function registerAlertListeners(app: App, deps: DispatchDeps): void {
  app.action<BlockAction<ButtonAction>>(ALERT_ACTION.acknowledge, async ({ ack, body, action, client }) => {
    await ack();
    const user = body.user.id;
    const channel = body.channel?.id ?? 'unknown';
    const tell = (text: string) => client.chat.postEphemeral({ channel, user, text }).catch((error: unknown) => deps.logger.warn({ err: errorText(error) }, 'could not answer an acknowledgement'));
    if (!(await deps.roles.holdsAny(user))) {
      await deps.store.appendAudit({ source: 'slack', actor: user, channel, command: 'alert acknowledge', text: action.value ?? '', outcome: 'not_authorized' }).catch(() => {});
      return void (await tell('Only people listed in slack.roles can acknowledge alerts.'));
    }
    const acknowledged = await acknowledgeAlert(deps.alertIntake, action.value ?? '', user);
    await deps.store.appendAudit({ source: 'slack', actor: user, channel, command: 'alert acknowledge', text: action.value ?? '', outcome: acknowledged ? 'acknowledged' : 'not_firing' }).catch(() => {});
    if (!acknowledged) await tell('That alert is not firing any more (already acknowledged or resolved).');
  });

  app.action<BlockAction<ButtonAction>>(ALERT_ACTION.declareIncident, async ({ ack, body, action, client }) => {
    await ack();
    const user = body.user.id;
    const channel = body.channel?.id ?? 'unknown';
    const tell = (text: string) => client.chat.postEphemeral({ channel, user, text }).catch((error: unknown) => deps.logger.warn({ err: errorText(error) }, 'could not answer a declare-incident click'));
    if (!(await deps.roles.holdsAny(user))) return void (await tell('Only people listed in slack.roles can declare incidents.'));
    const [alert] = await deps.store.getAlerts([action.value ?? '']);
    if (!alert) return void (await tell('That alert is no longer known.'));
    try {
      const incident = await declareIncident(deps.incidents, { title: `${alert.alert}: ${alert.summary}`.slice(0, 200), kind: isSecurityAlert(alert) ? 'security' : 'operational', actor: user });
      await deps.store.appendAudit({ source: 'slack', actor: user, channel, command: 'incident declare', text: alert.alert, outcome: 'ok', detail: { incident: incident.id, fingerprint: alert.fingerprint } }).catch(() => {});
      await tell(`Incident ${incident.id} declared; its thread is in ${channelRef(incident.channel)}.`);
    } catch (error) {
      await tell(escapeMrkdwn(toDrError(error).userMessage));
    }
  });
}
