// Interaction payloads shaped as Slack sends them (block_actions for a button, view_submission for a
// modal), signed and posted to the bot like every other Slack request.
import { fakeTriggerId, postSigned, sendInteraction, type SlackHttpResult, type SlackRequestOptions } from './slack-requests.ts';
import { TEST_SIGNING_SECRET } from './bot.ts';

const TEAM = { id: 'T0FAKE0001', domain: 'fake-team' };
const userOf = (id: string) => ({ id, username: id.toLowerCase(), name: id.toLowerCase(), team_id: TEAM.id });

/** Clicks a button on a message the bot posted. */
export function clickButton(
  botUrl: string,
  click: { user: string; channel: string; messageTs: string; actionId: string; blockId: string; value: string; responseUrl?: string },
  options: SlackRequestOptions = {},
): Promise<SlackHttpResult> {
  const now = (Date.now() / 1000).toFixed(6);
  return sendInteraction(
    botUrl,
    TEST_SIGNING_SECRET,
    {
      type: 'block_actions',
      user: userOf(click.user),
      api_app_id: 'A0FAKEAPP1',
      token: 'fake-verification-token',
      container: { type: 'message', message_ts: click.messageTs, channel_id: click.channel, is_ephemeral: false },
      trigger_id: fakeTriggerId(),
      team: TEAM,
      enterprise: null,
      is_enterprise_install: false,
      channel: { id: click.channel, name: 'ops' },
      message: { type: 'message', ts: click.messageTs, text: '', user: 'U0BOT00001', blocks: [] },
      state: { values: {} },
      response_url: click.responseUrl ?? 'http://127.0.0.1:9/no-response-url-given',
      actions: [{ action_id: click.actionId, block_id: click.blockId, text: { type: 'plain_text', text: click.actionId, emoji: true }, value: click.value, type: 'button', action_ts: now }],
    },
    options,
  );
}

/** Submits a modal with the given input values (`{ block_id: { action_id: value } }`). */
export function submitModal(
  botUrl: string,
  submission: { user: string; callbackId: string; privateMetadata: string; values: Record<string, Record<string, string>> },
  options: SlackRequestOptions = {},
): Promise<SlackHttpResult> {
  const values = Object.fromEntries(
    Object.entries(submission.values).map(([block, inputs]) => [block, Object.fromEntries(Object.entries(inputs).map(([action, value]) => [action, { type: 'plain_text_input', value }]))]),
  );
  return sendInteraction(
    botUrl,
    TEST_SIGNING_SECRET,
    {
      type: 'view_submission',
      team: TEAM,
      user: userOf(submission.user),
      api_app_id: 'A0FAKEAPP1',
      token: 'fake-verification-token',
      trigger_id: fakeTriggerId(),
      view: {
        id: 'V0FAKEVIEW1',
        team_id: TEAM.id,
        type: 'modal',
        blocks: [],
        private_metadata: submission.privateMetadata,
        callback_id: submission.callbackId,
        state: { values },
        hash: '1700000000.abcdef',
        title: { type: 'plain_text', text: 'Confirm the plan' },
        clear_on_close: false,
        notify_on_close: false,
        root_view_id: 'V0FAKEVIEW1',
        app_id: 'A0FAKEAPP1',
        bot_id: 'B0FAKEBOT1',
      },
      response_urls: [],
      is_enterprise_install: false,
      enterprise: null,
    },
    options,
  );
}

/** Opens the app's Home tab as `user`: the app_home_opened event, signed, as Slack's Events API sends it. */
export function openAppHome(botUrl: string, user: string): Promise<SlackHttpResult> {
  const event = {
    token: 'fake-verification-token',
    team_id: TEAM.id,
    api_app_id: 'A0FAKEAPP1',
    type: 'event_callback',
    event_id: `Ev${fakeTriggerId().replace(/\D/g, '').slice(0, 10)}`,
    event_time: Math.floor(Date.now() / 1000),
    event: { type: 'app_home_opened', user, channel: 'D0HOME0001', tab: 'home', event_ts: `${Date.now() / 1000}` },
  };
  return postSigned(botUrl, TEST_SIGNING_SECRET, JSON.stringify(event), 'application/json');
}
