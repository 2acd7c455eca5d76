// Slack's Socket Mode side: apps.connections.open (served through the Web API fake) hands out a
// ws:// URL on this server, which says hello and pushes envelopes the way Slack does.
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { SlackFake } from './slack-api.ts';

/** A Socket Mode endpoint the bot connects to; `push` delivers an envelope and resolves with the bot's ack. */
export interface SlackSocketFake {
  url: string;
  connected(): Promise<void>;
  push(type: 'slash_commands' | 'interactive' | 'events_api', payload: Record<string, unknown>): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** Starts the WebSocket side and teaches the Web API fake to answer apps.connections.open with it. */
export async function startSlackSocketFake(api: SlackFake): Promise<SlackSocketFake> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/link`;
  let socket: WebSocket | undefined;
  let onConnect: (() => void) | undefined;
  const pending = new Map<string, (ack: Record<string, unknown>) => void>();

  server.on('connection', (ws) => {
    socket = ws;
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as { envelope_id?: string };
      if (message.envelope_id) pending.get(message.envelope_id)?.(message as Record<string, unknown>);
    });
    ws.send(JSON.stringify({ type: 'hello', num_connections: 1, debug_info: { host: 'fake', approximate_connection_time: 18060 }, connection_info: { app_id: 'A0FAKEAPP1' } }));
    onConnect?.();
  });
  api.on('apps.connections.open', () => ({ ok: true, url }));

  return {
    url,
    connected: () => (socket ? Promise.resolve() : new Promise<void>((resolve) => (onConnect = resolve))),
    push(type, payload) {
      const envelopeId = randomUUID();
      return new Promise((resolve, reject) => {
        if (!socket) return reject(new Error('no Socket Mode client connected'));
        pending.set(envelopeId, resolve);
        socket.send(JSON.stringify({ envelope_id: envelopeId, type, payload, accepts_response_payload: type !== 'events_api', retry_attempt: 0, retry_reason: '' }));
      });
    },
    async close() {
      for (const client of server.clients) client.terminate();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
