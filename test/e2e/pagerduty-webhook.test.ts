import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { remindAndEscalate } from '../../src/alerts/escalation.ts';
import { pagerDedupKey, type AlertRecord } from '../../src/domain/alert.ts';
import { startPagerDutyFake, type PagerDutyFake } from '../fakes/pagerduty-fake.ts';
import { pagingInto, startTestBot, type TestBot } from '../helpers/bot.ts';
import { incidentEvent, pagerDutySignature, sendPagerDutyWebhook } from '../helpers/pagerduty-webhooks.ts';

const TOKEN = 'alert-token-pd';
const SECRET = 'pd-webhook-secret-current-0123456789';
const OLD_SECRET = 'pd-webhook-secret-previous-98765432';
const HOUR = 3_600_000;

/** POSTs one alert to /alerts and waits until PagerDuty was paged for it; returns its stored record. */
async function firing(t: TestBot, pagerduty: PagerDutyFake, name: string): Promise<AlertRecord> {
  const response = await fetch(`${t.bot.url}/alerts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ alert: name, severity: 'critical', status: 'firing', summary: `${name} is firing` }),
  });
  expect(response.status).toBe(202);
  const alert = (await t.bot.deps.store.listAlerts()).find((a) => a.alert === name)!;
  await pagerduty.waitFor((e) => e.action === 'trigger' && e.dedupKey === alert.fingerprint, 15_000);
  await t.slack.waitFor((c) => c.method === 'chat.postMessage' && String(c.body.text).includes(name), 15_000);
  return alert;
}

const send = (t: TestBot, body: unknown, secrets: readonly string[] = [SECRET], options: { signature?: string } = {}) => sendPagerDutyWebhook(t.bot.url, secrets, typeof body === 'string' ? body : JSON.stringify(body), options);
const drained = (t: TestBot) => expect.poll(async () => (await t.bot.deps.store.listOutbox({ status: 'pending' })).length, { timeout: 20_000 }).toBe(0);

describe('POST /webhooks/pagerduty (PagerDuty webhooks v3)', () => {
  let t: TestBot;
  let pagerduty: PagerDutyFake;
  beforeAll(async () => {
    pagerduty = await startPagerDutyFake();
    const paging = pagingInto(pagerduty);
    t = await startTestBot({ ...paging, env: { ...paging.env, DR_ALERT_TOKEN: TOKEN, PAGERDUTY_WEBHOOK_SECRET: SECRET } });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await pagerduty?.close();
  });

  it('refuses forged, unsigned, garbage and oversized webhooks, and changes nothing for them or for an unknown incident', async () => {
    const alert = await firing(t, pagerduty, 'disk_full');
    const outboxBefore = (await t.bot.deps.store.listOutbox()).length;
    const ack = JSON.stringify(incidentEvent('incident.acknowledged', { incidentKey: alert.fingerprint, agent: 'Mallory' }));
    // Wrong secret, a signature of another body, no header, a header without v1=, a truncated signature.
    expect((await send(t, ack, ['not-the-secret'])).status).toBe(401);
    expect((await send(t, ack, [], { signature: pagerDutySignature(SECRET, `${ack} `) })).status).toBe(401);
    expect((await send(t, ack, [], { signature: '' })).status).toBe(401);
    expect((await send(t, ack, [], { signature: pagerDutySignature(SECRET, ack).replace('v1=', 'v0=') })).status).toBe(401);
    expect((await send(t, ack, [], { signature: pagerDutySignature(SECRET, ack).slice(0, 40) })).status).toBe(401);
    // Signed, but not a webhook: garbage, JSON null, an array, an event without a type.
    for (const body of ['{"event":', 'null', '[]', '"incident.acknowledged"', '{"event":null}', '{"event":{"data":{}}}', '{"event":{"event_type":42}}']) {
      const answer = await send(t, body);
      expect({ body, status: answer.status }).toEqual({ body, status: 400 });
    }
    const huge = await send(t, JSON.stringify({ event: { event_type: 'incident.acknowledged', data: { padding: 'x'.repeat(400 * 1024) } } }));
    expect(huge.status).toBe(413);
    // Verified, but about an incident the bot never paged: 202, nothing changes.
    const unknown = await send(t, incidentEvent('incident.acknowledged', { incidentKey: 'f00dfeedf00dfeedf00dfeedf00dfeed', incidentId: 'PUNKNOWN' }));
    expect(unknown).toEqual({ status: 202, body: { status: 'accepted', outcome: 'unknown_incident' } });
    // Event types the bot does not act on are accepted and ignored.
    expect((await send(t, incidentEvent('incident.annotated', { incidentKey: alert.fingerprint }))).body.outcome).toBe('ignored');
    const [after] = await t.bot.deps.store.getAlerts([alert.fingerprint]);
    expect(after).toEqual(alert);
    expect((await t.bot.deps.store.listOutbox()).length).toBe(outboxBefore);
    expect(t.logs.filter((l) => l.msg === 'PagerDuty webhook refused').length).toBe(13);
    // The bot is still serving.
    expect((await fetch(`${t.bot.url}/healthz`)).status).toBe(200);
  });

  it('takes an acknowledgement made in PagerDuty (signed with the old and the new secret while it rotates): the Slack message says who, escalation and reminders stop, nothing is echoed back', async () => {
    const alert = await firing(t, pagerduty, 'db_connection_failure');
    const posted = await t.slack.waitFor((c) => c.method === 'chat.postMessage' && String(c.body.text).includes('db_connection_failure'));
    const ts = (posted.response as { ts: string }).ts;
    const body = JSON.stringify(incidentEvent('incident.acknowledged', { incidentKey: alert.fingerprint, incidentId: 'PDBDOWN01', agent: 'Jane <!channel> Doe', eventId: 'ev-ack-0001' }));
    // During a rotation PagerDuty signs with both secrets; this bot knows the new one.
    const answer = await send(t, body, [OLD_SECRET, SECRET]);
    expect(answer).toEqual({ status: 202, body: { status: 'accepted', outcome: 'acknowledged' } });
    const [acknowledged] = await t.bot.deps.store.getAlerts([alert.fingerprint]);
    expect(acknowledged).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'Jane <!channel> Doe in PagerDuty', pagerdutyIncidentId: 'PDBDOWN01' });

    // The same Slack message is edited to show it, the name escaped.
    const edited = await t.slack.waitFor((c) => c.method === 'chat.update' && c.body.ts === ts && JSON.stringify(c.body.blocks).includes('in PagerDuty'), 15_000);
    const shown = JSON.stringify(edited.body.blocks);
    expect(shown).toContain('Acknowledged by Jane &lt;!channel&gt; Doe in PagerDuty');
    expect(shown).not.toContain('<!channel>');
    expect(shown).not.toContain('alert_acknowledge');
    await drained(t);
    // PagerDuty is not told about its own acknowledgement.
    expect(pagerduty.events.filter((e) => e.dedupKey === alert.fingerprint).map((e) => e.action)).toEqual(['trigger']);

    // Hours later no reminder and no escalation is due for it.
    const later = { store: t.bot.deps.store, routing: t.bot.deps.alertIntake.routing, stakeholdersChannel: '#dr-stakeholders', repeatMs: 4 * HOUR, escalateAfterMs: 0.5 * HOUR, now: () => new Date(Date.now() + 5 * HOUR) };
    const before = (await t.bot.deps.store.listOutbox()).length;
    await remindAndEscalate(later);
    const queued = (await t.bot.deps.store.listOutbox()).slice(before).filter((m) => 'fingerprint' in m.payload && m.payload.fingerprint === alert.fingerprint);
    expect(queued).toEqual([]);

    // PagerDuty redelivers the same event: taken in once.
    expect((await send(t, body)).body).toEqual({ status: 'accepted', outcome: 'duplicate' });
  }, 60_000);

  it('notes a resolve in PagerDuty in the alert thread and keeps the alert open until its source resolves it', async () => {
    const alert = await firing(t, pagerduty, 'health_endpoint_down');
    const posted = await t.slack.waitFor((c) => c.method === 'chat.postMessage' && !c.body.thread_ts && String(c.body.text).includes('health_endpoint_down'));
    const ts = (posted.response as { ts: string }).ts;
    const answer = await send(t, incidentEvent('incident.resolved', { incidentKey: alert.fingerprint, agent: 'Sam *Ops*' }));
    expect(answer.body.outcome).toBe('noted');
    const note = await t.slack.waitFor((c) => c.method === 'chat.postMessage' && c.body.thread_ts === ts, 15_000);
    expect(String(note.body.text)).toContain('Resolved in PagerDuty by Sam *Ops*');
    expect(String(note.body.text)).toContain('stays open here until its source');
    const [still] = await t.bot.deps.store.getAlerts([alert.fingerprint]);
    expect(still!.state).toBe('firing');
    // Its source resolves it: now it is resolved, and a later PagerDuty resolve notes nothing more.
    await fetch(`${t.bot.url}/alerts`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ alert: 'health_endpoint_down', severity: 'critical', status: 'resolved', summary: 'back' }) });
    expect((await t.bot.deps.store.getAlerts([alert.fingerprint]))[0]!.state).toBe('resolved');
    expect((await send(t, incidentEvent('incident.resolved', { incidentKey: alert.fingerprint }))).body.outcome).toBe('unchanged');
  }, 60_000);

  it('matches by the PagerDuty incident id it remembered when an event lacks incident_key, and ignores events older than the current firing', async () => {
    const alert = await firing(t, pagerduty, 'storage_capacity');
    // An acknowledgement from before this firing began is about an earlier incident.
    const stale = await send(t, incidentEvent('incident.acknowledged', { incidentKey: alert.fingerprint, occurredAt: new Date(Date.parse(alert.firingSince) - 60_000).toISOString() }));
    expect(stale.body.outcome).toBe('unchanged');
    // incident.triggered names PagerDuty's id for the key; a later event carries only the id.
    expect((await send(t, incidentEvent('incident.triggered', { incidentKey: alert.fingerprint, incidentId: 'PSTORAGE1' }))).body.outcome).toBe('unchanged');
    expect((await t.bot.deps.store.getAlerts([alert.fingerprint]))[0]).toMatchObject({ state: 'firing', pagerdutyIncidentId: 'PSTORAGE1' });
    const byId = await send(t, incidentEvent('incident.acknowledged', { incidentId: 'PSTORAGE1', agent: 'Kim' }));
    expect(byId.body.outcome).toBe('acknowledged');
    expect((await t.bot.deps.store.getAlerts([alert.fingerprint]))[0]).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'Kim in PagerDuty' });
  }, 60_000);
  // Last: its three alerts reach the critical channel together, as a digest.
  it('acknowledges every open alert of an Alertmanager group paged as one incident, found by the group’s key', async () => {
    const groupKey = '{}:{alertname="disk_full_group"}';
    const webhook = {
      version: '4', groupKey, status: 'firing', receiver: 'dr-bot', groupLabels: {}, commonLabels: {}, commonAnnotations: {}, externalURL: 'http://alertmanager.example:9093', truncatedAlerts: 0,
      alerts: ['a1', 'b2', 'c3'].map((id) => ({ status: 'firing', labels: { alertname: 'disk_full_group', severity: 'critical', instance: id }, annotations: { summary: `disk full on ${id}` }, startsAt: new Date().toISOString(), endsAt: '0001-01-01T00:00:00Z', generatorURL: '', fingerprint: `feed${id}0000000000`.slice(0, 16) })),
    };
    const accepted = await fetch(`${t.bot.url}/alerts/alertmanager`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(webhook) });
    expect(accepted.status).toBe(202);
    const members = (await t.bot.deps.store.listAlerts()).filter((a) => a.alert === 'disk_full_group');
    expect(members).toHaveLength(3);
    const key = pagerDedupKey(members[0]!);
    expect(members.every((m) => pagerDedupKey(m) === key && key !== m.fingerprint)).toBe(true);
    await pagerduty.waitFor((e) => e.action === 'trigger' && e.dedupKey === key, 15_000);
    const answer = await send(t, incidentEvent('incident.acknowledged', { incidentKey: key, agent: 'Ana' }));
    expect(answer.body.outcome).toBe('acknowledged');
    const after = await t.bot.deps.store.getAlerts(members.map((m) => m.fingerprint));
    expect(after.map((a) => [a.state, a.acknowledgedBy])).toEqual(members.map(() => ['acknowledged', 'Ana in PagerDuty']));
  }, 60_000);
});

describe('POST /webhooks/pagerduty without PAGERDUTY_WEBHOOK_SECRET', () => {
  let t: TestBot;
  beforeAll(async () => {
    t = await startTestBot({ env: { DR_ALERT_TOKEN: TOKEN } });
  });
  afterAll(async () => t?.close());

  it('answers 503 and reads nothing', async () => {
    const answer = await send(t, incidentEvent('incident.acknowledged', { incidentKey: 'abc' }));
    expect(answer.status).toBe(503);
    expect(String(answer.body.error)).toContain('PAGERDUTY_WEBHOOK_SECRET is not set');
  });
});
