// A fake of Slack's Web API, response_url endpoint and file upload host, on 127.0.0.1.
// End-to-end tests point the real Bolt app / WebClient at it (slackApiUrl) and assert on `calls`.
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// Identity the fake answers with, exported so tests can give Bolt matching botId/botUserId and skip auth.test.
export const FAKE_SLACK = {
  teamId: 'T0FAKE0001',
  team: 'Fake Team',
  teamUrl: 'https://fake-team.slack.com/',
  botUserId: 'U0FAKEBOT1',
  botUserName: 'dr-bot',
  botId: 'B0FAKEBOT1',
  appId: 'A0FAKEAPP1',
} as const;

// One request the fake received, in arrival order; failed attempts are recorded too so retries are visible.
export interface SlackCall {
  /** API method (`chat.postMessage`), or `response_url` / `upload_url` for the two non-API endpoints. */
  method: string;
  /** Parsed body; JSON-looking form values (blocks, attachments, files, view) are decoded to objects. */
  body: Record<string, unknown>;
  headers: IncomingHttpHeaders;
  /** Date.now() when the request was fully read. */
  at: number;
  /** Token from `Authorization: Bearer` or the `token` body field. */
  token?: string;
  /** HTTP status the fake answered with. */
  status: number;
  /** What the fake answered (object for JSON answers, string for text answers). */
  response: unknown;
  /** True when the answer was not a success (HTTP status ≠ 200 or `ok:false`). */
  failed?: boolean;
  /** True when the failure came from failNext(). */
  injected?: boolean;
  /** For `response_url` calls: the id passed to responseUrl(id). */
  responseId?: string;
  /** For `upload_url` calls: the uploaded file bytes (multipart part or raw body). */
  bytes?: Buffer;
}

// How failNext() makes a method fail; mirrors the three ways Slack fails (429, HTTP error, ok:false).
export interface SlackFailure {
  /** HTTP status; 429 is implied when only retryAfter is given, 200 (ok:false) when neither is given. */
  status?: number;
  /** Seconds for the Retry-After header of a 429 (default 1). */
  retryAfter?: number;
  /** Error code in the body (default `ratelimited` for 429, `internal_error` otherwise). */
  error?: string;
  /** How many consecutive calls fail (default 1). */
  times?: number;
}

// Custom answer for a method: return the JSON body (ok is added when missing).
export type SlackHandler = (
  body: Record<string, unknown>,
  call: SlackCall,
) => Record<string, unknown> | Promise<Record<string, unknown>>;

// The handle a test holds on the running fake.
export interface SlackFake {
  /** Base URL for SLACK_API_URL / WebClient slackApiUrl, with trailing slash. */
  apiUrl: string;
  /** Origin of the fake, e.g. http://127.0.0.1:PORT */
  baseUrl: string;
  calls: SlackCall[];
  /** Calls of one method, in order. */
  callsTo(method: string): SlackCall[];
  /** A URL that behaves like Slack's response_url; POSTs to it are recorded as `response_url` calls. */
  responseUrl(id?: string): string;
  /** Makes the next `times` calls of `method` fail like Slack does. */
  failNext(method: string, failure: SlackFailure): void;
  /** Replaces the default answer of `method` (until reset()). */
  on(method: string, handler: SlackHandler): void;
  /** First call matching predicate, already recorded or future; rejects after timeoutMs. */
  waitFor(predicate: (c: SlackCall) => boolean, timeoutMs?: number): Promise<SlackCall>;
  /** Clears calls, pending failures and custom handlers. */
  reset(): void;
  /** Takes Slack down (every request's connection is dropped unanswered, as in an outage) or brings it back. */
  setDown(down: boolean): void;
  /** Requests dropped while down. */
  readonly dropped: number;
  /**
   * Makes the bot a non-member of `channel` (chat.postMessage, chat.update and conversations.history answer
   * `not_in_channel`), as Slack does for a channel nobody invited it to. conversations.join makes it a member of a
   * public channel given by id; a private one answers `method_not_supported_for_channel_type`, an archived one
   * `is_archived`. `{ member: true }` puts it back.
   */
  setChannel(channel: string, options: { member: boolean; private?: boolean; archived?: boolean }): void;
  close(): Promise<void>;
}

interface PendingFailure {
  status: number;
  retryAfter: number | undefined;
  error: string;
  remaining: number;
}

interface Answer {
  status: number;
  json?: Record<string, unknown>;
  text?: string;
  headers?: Record<string, string>;
  injected?: boolean;
}

interface Waiter {
  predicate: (c: SlackCall) => boolean;
  resolve: (c: SlackCall) => void;
}

interface UploadSlot {
  filename: string;
  length: number;
  bytes?: Buffer;
}

// Starts the fake on an ephemeral port; each test file gets its own instance and state.
export async function startSlackFake(): Promise<SlackFake> {
  const calls: SlackCall[] = [];
  const failures = new Map<string, PendingFailure[]>();
  const handlers = new Map<string, SlackHandler>();
  const uploads = new Map<string, UploadSlot>();
  let waiters: Waiter[] = [];
  let tsSeq = 0;
  let idSeq = 0;
  let baseUrl = '';

  // Slack message timestamps: seconds.micro, unique and increasing (1700000000.000100, .000200, …).
  const nextTs = (): string => {
    tsSeq += 100;
    return `${1_700_000_000 + Math.floor(tsSeq / 1_000_000)}.${String(tsSeq % 1_000_000).padStart(6, '0')}`;
  };
  const nextId = (prefix: string): string => `${prefix}${String(++idSeq).padStart(9, '0')}`;

  const takeFailure = (method: string): PendingFailure | undefined => {
    const queue = failures.get(method);
    const head = queue?.[0];
    if (!queue || !head) return undefined;
    head.remaining -= 1;
    if (head.remaining <= 0) queue.shift();
    return head;
  };

  const failureAnswer = (f: PendingFailure, asText: boolean): Answer => {
    const headers: Record<string, string> = {};
    if (f.status === 429) headers['retry-after'] = String(f.retryAfter ?? 1);
    // response_url and the upload host answer plain text, like Slack's.
    if (asText) return { status: f.status, text: f.error, headers, injected: true };
    return { status: f.status, json: { ok: false, error: f.error }, headers, injected: true };
  };

  const record = (call: SlackCall): void => {
    calls.push(call);
    const still: Waiter[] = [];
    for (const w of waiters) {
      if (safeMatch(w.predicate, call)) w.resolve(call);
      else still.push(w);
    }
    waiters = still;
  };

  const message = (body: Record<string, unknown>, ts: string): Record<string, unknown> => ({
    type: 'message',
    text: typeof body.text === 'string' ? body.text : '',
    user: FAKE_SLACK.botUserId,
    bot_id: FAKE_SLACK.botId,
    app_id: FAKE_SLACK.appId,
    team: FAKE_SLACK.teamId,
    ts,
    ...(body.blocks !== undefined ? { blocks: body.blocks } : {}),
    ...(body.attachments !== undefined ? { attachments: body.attachments } : {}),
    ...(body.thread_ts !== undefined ? { thread_ts: body.thread_ts } : {}),
    ...(body.metadata !== undefined ? { metadata: body.metadata } : {}),
  });
  // What each channel holds, newest last, for conversations.history.
  const history = new Map<string, Array<Record<string, unknown>>>();
  // Channels configured by a test; any other channel counts as one the bot is in.
  const channels = new Map<string, { member: boolean; private: boolean; archived: boolean }>();
  const isMember = (channel: string): boolean => channels.get(channel)?.member ?? true;

  const hasContent = (b: Record<string, unknown>): boolean =>
    (typeof b.text === 'string' && b.text !== '') || b.blocks !== undefined || b.attachments !== undefined;

  const view = (body: Record<string, unknown>): Record<string, unknown> => {
    const v = isRecord(body.view) ? body.view : {};
    return {
      id: typeof body.view_id === 'string' ? body.view_id : nextId('V'),
      team_id: FAKE_SLACK.teamId,
      app_id: FAKE_SLACK.appId,
      bot_id: FAKE_SLACK.botId,
      hash: `${Date.now()}.${nextId('h')}`,
      previous_view_id: null,
      root_view_id: null,
      state: { values: {} },
      ...v,
    };
  };

  const channelObj = (id: string): Record<string, unknown> => ({
    id,
    name: id.toLowerCase(),
    is_channel: true,
    is_group: false,
    is_im: false,
    is_private: false,
    is_archived: false,
    is_member: true,
    created: 1_600_000_000,
    context_team_id: FAKE_SLACK.teamId,
  });

  // Default answers with the shapes Slack documents (only the fields callers usually read).
  const defaults: Record<string, (b: Record<string, unknown>) => Record<string, unknown>> = {
    'api.test': (b) => ({ ok: true, args: b }),
    'auth.test': () => ({
      ok: true,
      url: FAKE_SLACK.teamUrl,
      team: FAKE_SLACK.team,
      user: FAKE_SLACK.botUserName,
      team_id: FAKE_SLACK.teamId,
      user_id: FAKE_SLACK.botUserId,
      bot_id: FAKE_SLACK.botId,
      is_enterprise_install: false,
    }),
    'chat.postMessage': (b) => {
      if (typeof b.channel !== 'string' || b.channel === '') return { ok: false, error: 'channel_not_found' };
      if (!hasContent(b)) return { ok: false, error: 'no_text' };
      if (!isMember(b.channel)) return { ok: false, error: 'not_in_channel' };
      const refused = refusedMessage(b);
      if (refused) return refused;
      const ts = nextTs();
      const posted = message(b, ts);
      history.set(b.channel, [...(history.get(b.channel) ?? []), posted]);
      return { ok: true, channel: b.channel, ts, message: posted };
    },
    'conversations.history': (b) => {
      if (typeof b.channel !== 'string' || b.channel === '') return { ok: false, error: 'channel_not_found' };
      if (!isMember(b.channel)) return { ok: false, error: 'not_in_channel' };
      const limit = Math.min(Number(b.limit ?? 100) || 100, 1000);
      const withMetadata = b.include_all_metadata === true || b.include_all_metadata === 'true';
      const messages = [...(history.get(b.channel) ?? [])].reverse().slice(0, limit).map((m) => (withMetadata ? m : { ...m, metadata: undefined }));
      return { ok: true, messages, has_more: false, pin_count: 0, response_metadata: { next_cursor: '' } };
    },
    'chat.update': (b) => {
      if (typeof b.channel !== 'string' || b.channel === '') return { ok: false, error: 'channel_not_found' };
      if (typeof b.ts !== 'string' || b.ts === '') return { ok: false, error: 'message_not_found' };
      if (!isMember(b.channel)) return { ok: false, error: 'not_in_channel' };
      const refused = refusedMessage(b);
      if (refused) return refused;
      return {
        ok: true,
        channel: b.channel,
        ts: b.ts,
        text: typeof b.text === 'string' ? b.text : '',
        message: message(b, b.ts),
      };
    },
    'chat.postEphemeral': (b) => {
      if (typeof b.channel !== 'string' || b.channel === '') return { ok: false, error: 'channel_not_found' };
      if (typeof b.user !== 'string' || b.user === '') return { ok: false, error: 'user_not_in_channel' };
      const refused = refusedMessage(b);
      if (refused) return refused;
      return { ok: true, message_ts: nextTs() };
    },
    'chat.delete': (b) => {
      if (typeof b.channel !== 'string' || b.channel === '') return { ok: false, error: 'channel_not_found' };
      if (typeof b.ts !== 'string' || b.ts === '') return { ok: false, error: 'message_not_found' };
      return { ok: true, channel: b.channel, ts: b.ts };
    },
    'conversations.info': (b) =>
      typeof b.channel === 'string' && b.channel !== ''
        ? { ok: true, channel: channelObj(b.channel) }
        : { ok: false, error: 'channel_not_found' },
    // Slack joins by channel id only; a name is not found.
    'conversations.join': (b) => {
      if (typeof b.channel !== 'string' || !/^[CG][A-Z0-9]+$/.test(b.channel)) return { ok: false, error: 'channel_not_found' };
      const known = channels.get(b.channel);
      if (known?.archived) return { ok: false, error: 'is_archived' };
      if (known?.private && !known.member) return { ok: false, error: 'method_not_supported_for_channel_type' };
      const warnings = known && !known.member ? [] : ['already_in_channel'];
      if (known) known.member = true;
      return { ok: true, channel: channelObj(b.channel), ...(warnings.length ? { warning: warnings[0] } : {}), response_metadata: { warnings } };
    },
    'users.info': (b) => {
      if (typeof b.user !== 'string' || b.user === '') return { ok: false, error: 'user_not_found' };
      const name = b.user.toLowerCase();
      return {
        ok: true,
        user: {
          id: b.user,
          team_id: FAKE_SLACK.teamId,
          name,
          real_name: `User ${b.user}`,
          deleted: false,
          is_bot: false,
          is_admin: false,
          tz: 'Etc/UTC',
          profile: { real_name: `User ${b.user}`, display_name: name, email: `${name}@example.com` },
        },
      };
    },
    // Empty by default so permission checks fail closed; tests grant membership with on().
    'usergroups.users.list': (b) =>
      typeof b.usergroup === 'string' && b.usergroup !== ''
        ? { ok: true, users: [] }
        : { ok: false, error: 'no_such_subteam' },
    'views.publish': (b) => refusedView(b) ?? { ok: true, view: { ...view(b), type: 'home' } },
    'views.open': (b) => refusedView(b) ?? { ok: true, view: view(b) },
    'views.push': (b) => refusedView(b) ?? { ok: true, view: view(b) },
    'views.update': (b) => refusedView(b) ?? { ok: true, view: view(b) },
    'files.getUploadURLExternal': (b) => {
      const length = Number(b.length);
      if (typeof b.filename !== 'string' || b.filename === '') return { ok: false, error: 'invalid_arguments' };
      if (!Number.isFinite(length) || length <= 0) return { ok: false, error: 'invalid_arguments' };
      const fileId = nextId('F');
      uploads.set(fileId, { filename: b.filename, length });
      return { ok: true, upload_url: `${baseUrl}/upload/v1/${fileId}`, file_id: fileId };
    },
    'files.completeUploadExternal': (b) => {
      const files = Array.isArray(b.files) ? (b.files as unknown[]) : [];
      if (files.length === 0) return { ok: false, error: 'invalid_arguments' };
      const out: Record<string, unknown>[] = [];
      for (const f of files) {
        const id = isRecord(f) && typeof f.id === 'string' ? f.id : '';
        const slot = uploads.get(id);
        if (!slot) return { ok: false, error: 'file_not_found' };
        const title = isRecord(f) && typeof f.title === 'string' ? f.title : slot.filename;
        out.push({
          id,
          created: Math.floor(Date.now() / 1000),
          name: slot.filename,
          title,
          mimetype: 'application/octet-stream',
          size: slot.bytes?.length ?? 0,
          user: FAKE_SLACK.botUserId,
          channels: typeof b.channel_id === 'string' ? [b.channel_id] : [],
        });
      }
      return { ok: true, files: out };
    },
  };

  const apiAnswer = async (method: string, call: SlackCall): Promise<Answer> => {
    const failure = takeFailure(method);
    if (failure) return failureAnswer(failure, false);
    const handler = handlers.get(method);
    const builtin = defaults[method];
    if (!handler && !builtin) return { status: 200, json: { ok: false, error: 'unknown_method' } };
    if (!call.token) return { status: 200, json: { ok: false, error: 'not_authed' } };
    if (call.token === 'xoxb-invalid') return { status: 200, json: { ok: false, error: 'invalid_auth' } };
    const json = handler ? await handler(call.body, call) : builtin!(call.body);
    return { status: 200, json: { ok: true, ...json } };
  };

  let down = false;
  let dropped = 0;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (down) {
      dropped += 1;
      req.socket.destroy();
      return;
    }
    const raw = await readAll(req);
    const at = Date.now();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    const contentType = String(req.headers['content-type'] ?? '');
    const call: SlackCall = { method: '', body: {}, headers: req.headers, at, status: 0, response: undefined };
    let answer: Answer;

    if (path.startsWith('/api/')) {
      call.method = decodeURIComponent(path.slice('/api/'.length));
      call.body = { ...parseQuery(url.searchParams), ...parseBody(raw, contentType) };
      const auth = String(req.headers.authorization ?? '');
      const bearer = /^Bearer\s+(.+)$/i.exec(auth)?.[1];
      const token = bearer ?? (typeof call.body.token === 'string' ? call.body.token : undefined);
      if (token) call.token = token;
      answer = await apiAnswer(call.method, call);
    } else if (path.startsWith('/response/')) {
      call.method = 'response_url';
      call.responseId = decodeURIComponent(path.slice('/response/'.length));
      call.body = parseBody(raw, contentType);
      const failure = takeFailure('response_url');
      answer = failure ? failureAnswer(failure, true) : { status: 200, text: 'ok' };
    } else if (path.startsWith('/upload/v1/')) {
      call.method = 'upload_url';
      const fileId = decodeURIComponent(path.slice('/upload/v1/'.length));
      const part = contentType.startsWith('multipart/form-data') ? firstFilePart(raw, contentType) : undefined;
      const bytes = part?.data ?? raw;
      call.bytes = bytes;
      call.body = {
        file_id: fileId,
        length: bytes.length,
        content: bytes.toString('utf8'),
        ...(part?.filename !== undefined ? { filename: part.filename } : {}),
        ...(part?.name !== undefined ? { field: part.name } : {}),
      };
      const failure = takeFailure('upload_url');
      const slot = uploads.get(fileId);
      if (failure) answer = failureAnswer(failure, true);
      else if (!slot) answer = { status: 404, text: 'file_not_found' };
      else {
        slot.bytes = bytes;
        // Slack's upload host answers 200 with this plain-text line.
        answer = { status: 200, text: `OK - ${bytes.length}` };
      }
    } else {
      call.method = `http ${req.method ?? 'GET'} ${path}`;
      call.body = parseBody(raw, contentType);
      answer = { status: 404, text: 'not_found' };
    }

    call.status = answer.status;
    call.response = answer.json ?? answer.text;
    const ok = answer.status === 200 && (answer.json === undefined || answer.json.ok === true);
    if (!ok) call.failed = true;
    if (answer.injected) call.injected = true;
    // Record before answering so a client that has its answer can already find the call.
    record(call);

    const payload = answer.json !== undefined ? JSON.stringify(answer.json) : (answer.text ?? '');
    res.writeHead(answer.status, {
      'content-type': answer.json !== undefined ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(payload),
      ...answer.headers,
    });
    res.end(payload);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`fake error: ${err instanceof Error ? err.message : String(err)}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://127.0.0.1:${port}`;

  return {
    apiUrl: `${baseUrl}/api/`,
    baseUrl,
    calls,
    callsTo: (method) => calls.filter((c) => c.method === method),
    responseUrl: (id) => `${baseUrl}/response/${encodeURIComponent(id ?? nextId('R'))}`,
    failNext(method, failure) {
      const status = failure.status ?? (failure.retryAfter !== undefined ? 429 : 200);
      const error = failure.error ?? (status === 429 ? 'ratelimited' : 'internal_error');
      const queue = failures.get(method) ?? [];
      queue.push({ status, retryAfter: failure.retryAfter, error, remaining: failure.times ?? 1 });
      failures.set(method, queue);
    },
    on(method, handler) {
      handlers.set(method, handler);
    },
    waitFor(predicate, timeoutMs = 5000) {
      const found = calls.find((c) => safeMatch(predicate, c));
      if (found) return Promise.resolve(found);
      return new Promise<SlackCall>((resolve, reject) => {
        const waiter: Waiter = {
          predicate,
          resolve: (c) => {
            clearTimeout(timer);
            resolve(c);
          },
        };
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== waiter);
          const seen = calls.map((c) => (c.failed ? `${c.method}(failed)` : c.method));
          reject(
            new Error(
              `SlackFake.waitFor timed out after ${timeoutMs} ms waiting for ${describe(predicate)}; ` +
                `${seen.length} call(s) seen: ${seen.length ? seen.join(', ') : '(none)'}`,
            ),
          );
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    setChannel(channel, options) {
      channels.set(channel, { member: options.member, private: options.private ?? false, archived: options.archived ?? false });
    },
    setDown(value) {
      down = value;
      if (value) server.closeAllConnections();
    },
    get dropped() {
      return dropped;
    },
    reset() {
      calls.length = 0;
      channels.clear();
      failures.clear();
      handlers.clear();
      uploads.clear();
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive sockets (axios/undici pools) would otherwise hold close() open.
        server.closeAllConnections();
      });
    },
  };
}

// Block Kit limits as Slack enforces them (api.slack.com/reference/block-kit): a message or view with one text a
// character too long is refused whole, with the reason and a JSON pointer, exactly like this.
const LIMITS = {
  messageText: 40_000,
  blocksPerMessage: 50,
  blocksPerView: 100,
  sectionText: 3_000,
  sectionField: 2_000,
  sectionFields: 10,
  contextText: 3_000,
  contextElements: 10,
  headerText: 150,
  buttonText: 75,
  buttonValue: 2_000,
  actionsElements: 25,
  optionText: 75,
  optionDescription: 75,
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
  inputLabel: 2_000,
  placeholder: 150,
  viewTitle: 24,
  blockId: 255,
} as const;

/** What Slack answers for a message whose text or blocks break a limit (undefined when it is fine). */
function refusedMessage(body: Record<string, unknown>): Record<string, unknown> | undefined {
  if (typeof body.text === 'string' && body.text.length > LIMITS.messageText) return { ok: false, error: 'msg_too_long' };
  if (body.blocks === undefined) return undefined;
  const blocks = typeof body.blocks === 'string' ? safeJson(body.blocks) : body.blocks;
  return invalidBlocks(blockProblems(blocks, LIMITS.blocksPerMessage, '/blocks'));
}

/** The same for a modal or App Home view. */
function refusedView(body: Record<string, unknown>): Record<string, unknown> | undefined {
  const view = typeof body.view === 'string' ? safeJson(body.view) : body.view;
  if (!isRecord(view)) return { ok: false, error: 'invalid_arguments' };
  const problems = blockProblems(view.blocks ?? [], LIMITS.blocksPerView, '/view/blocks');
  for (const key of ['title', 'submit', 'close']) if (view[key] !== undefined) problems.push(...textProblems(view[key], LIMITS.viewTitle, `/view/${key}`));
  if (problems.length === 0) return undefined;
  return { ok: false, error: 'invalid_arguments', response_metadata: { messages: problems.map((p) => `[ERROR] ${p}`) } };
}

function invalidBlocks(problems: string[]): Record<string, unknown> | undefined {
  if (problems.length === 0) return undefined;
  return { ok: false, error: 'invalid_blocks', errors: problems, response_metadata: { messages: problems.map((p) => `[ERROR] ${p}`) } };
}

function blockProblems(blocks: unknown, max: number, at: string): string[] {
  if (!Array.isArray(blocks)) return [`must be an array [json-pointer:${at}]`];
  const problems: string[] = [];
  if (blocks.length > max) problems.push(`no more than ${max} items allowed [json-pointer:${at}]`);
  blocks.forEach((block, i) => {
    const where = `${at}/${i}`;
    if (!isRecord(block)) return void problems.push(`must be an object [json-pointer:${where}]`);
    if (typeof block.block_id === 'string' && block.block_id.length > LIMITS.blockId) problems.push(tooLong(LIMITS.blockId, `${where}/block_id`));
    switch (block.type) {
      case 'section':
        if (block.text === undefined && block.fields === undefined) problems.push(`must provide either text or fields [json-pointer:${where}]`);
        if (block.text !== undefined) problems.push(...textProblems(block.text, LIMITS.sectionText, `${where}/text`));
        if (Array.isArray(block.fields)) {
          if (block.fields.length > LIMITS.sectionFields) problems.push(`no more than ${LIMITS.sectionFields} items allowed [json-pointer:${where}/fields]`);
          block.fields.forEach((field, j) => problems.push(...textProblems(field, LIMITS.sectionField, `${where}/fields/${j}`)));
        }
        if (isRecord(block.accessory)) problems.push(...elementProblems(block.accessory, `${where}/accessory`));
        break;
      case 'context': {
        const elements = Array.isArray(block.elements) ? block.elements : [];
        if (elements.length === 0 || elements.length > LIMITS.contextElements) problems.push(`must have 1 to ${LIMITS.contextElements} items [json-pointer:${where}/elements]`);
        elements.forEach((element, j) => {
          if (isRecord(element) && element.type !== 'image') problems.push(...textProblems(element, LIMITS.contextText, `${where}/elements/${j}`));
        });
        break;
      }
      case 'header':
        problems.push(...textProblems(block.text, LIMITS.headerText, `${where}/text`, 'plain_text'));
        break;
      case 'actions': {
        const elements = Array.isArray(block.elements) ? block.elements : [];
        if (elements.length === 0 || elements.length > LIMITS.actionsElements) problems.push(`must have 1 to ${LIMITS.actionsElements} items [json-pointer:${where}/elements]`);
        elements.forEach((element, j) => {
          if (isRecord(element)) problems.push(...elementProblems(element, `${where}/elements/${j}`));
        });
        break;
      }
      case 'input':
        problems.push(...textProblems(block.label, LIMITS.inputLabel, `${where}/label`, 'plain_text'));
        if (isRecord(block.element)) problems.push(...elementProblems(block.element, `${where}/element`));
        break;
      default:
        break;
    }
  });
  return problems;
}

function elementProblems(element: Record<string, unknown>, at: string): string[] {
  const problems: string[] = [];
  if (element.type === 'button') {
    problems.push(...textProblems(element.text, LIMITS.buttonText, `${at}/text`, 'plain_text'));
    if (typeof element.value === 'string' && element.value.length > LIMITS.buttonValue) problems.push(tooLong(LIMITS.buttonValue, `${at}/value`));
  }
  if (element.placeholder !== undefined) problems.push(...textProblems(element.placeholder, LIMITS.placeholder, `${at}/placeholder`, 'plain_text'));
  for (const key of ['options', 'initial_options']) {
    const options = element[key];
    if (!Array.isArray(options)) continue;
    options.forEach((option, j) => {
      if (!isRecord(option)) return;
      problems.push(...textProblems(option.text, LIMITS.optionText, `${at}/${key}/${j}/text`));
      if (option.description !== undefined) problems.push(...textProblems(option.description, LIMITS.optionDescription, `${at}/${key}/${j}/description`));
    });
  }
  if (isRecord(element.confirm)) {
    const c = element.confirm;
    problems.push(...textProblems(c.title, LIMITS.confirmTitle, `${at}/confirm/title`, 'plain_text'));
    problems.push(...textProblems(c.text, LIMITS.confirmText, `${at}/confirm/text`));
    problems.push(...textProblems(c.confirm, LIMITS.confirmButton, `${at}/confirm/confirm`, 'plain_text'));
    problems.push(...textProblems(c.deny, LIMITS.confirmButton, `${at}/confirm/deny`, 'plain_text'));
  }
  return problems;
}

// A text object: the right type, and 1 to `max` characters (Slack counts UTF-16 code units, as String.length does).
function textProblems(value: unknown, max: number, at: string, only?: 'plain_text'): string[] {
  if (!isRecord(value) || (value.type !== 'mrkdwn' && value.type !== 'plain_text') || typeof value.text !== 'string') return [`must be a text object [json-pointer:${at}]`];
  if (only && value.type !== only) return [`must be a ${only} text object [json-pointer:${at}]`];
  if (value.text.length === 0) return [`must be more than 0 characters [json-pointer:${at}/text]`];
  if (value.text.length > max) return [tooLong(max, `${at}/text`)];
  return [];
}

function tooLong(max: number, at: string): string {
  return `must be less than ${max + 1} characters [json-pointer:${at}]`;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// A throwing predicate (e.g. reading a field of an unexpected body) counts as "no match" rather than crashing the server.
function safeMatch(predicate: (c: SlackCall) => boolean, call: SlackCall): boolean {
  try {
    return predicate(call);
  } catch {
    return false;
  }
}

function describe(predicate: (c: SlackCall) => boolean): string {
  const src = predicate.toString().replace(/\s+/g, ' ');
  return src.length > 120 ? `${src.slice(0, 117)}...` : src;
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

// WebClient form-encodes every argument and JSON-stringifies objects (blocks, attachments, files, view):
// decode those back so tests can assert on structure.
function decodeValue(v: string): unknown {
  const t = v.trim();
  if ((t.startsWith('{') && t.endsWith('}')) || (t.startsWith('[') && t.endsWith(']'))) {
    try {
      return JSON.parse(t) as unknown;
    } catch {
      return v;
    }
  }
  return v;
}

function parseQuery(params: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of params) out[k] = decodeValue(v);
  return out;
}

function parseBody(raw: Buffer, contentType: string): Record<string, unknown> {
  if (raw.length === 0) return {};
  const text = raw.toString('utf8');
  if (contentType.startsWith('application/json')) {
    try {
      const parsed = JSON.parse(text) as unknown;
      return isRecord(parsed) ? parsed : { __json: parsed };
    } catch {
      return { __raw: text };
    }
  }
  if (contentType.startsWith('application/x-www-form-urlencoded')) return parseQuery(new URLSearchParams(text));
  if (contentType.startsWith('multipart/form-data')) {
    const out: Record<string, unknown> = {};
    for (const p of multipartParts(raw, contentType)) {
      if (p.name === undefined) continue;
      out[p.name] = p.filename !== undefined ? { filename: p.filename, length: p.data.length } : decodeValue(p.data.toString('utf8'));
    }
    return out;
  }
  return { __raw: text };
}

interface Part {
  name?: string;
  filename?: string;
  data: Buffer;
}

// Minimal multipart/form-data parser: WebClient posts upload bytes as a form-data part, not a raw body.
function multipartParts(raw: Buffer, contentType: string): Part[] {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary) return [];
  const delim = Buffer.from(`--${boundary}`);
  const parts: Part[] = [];
  let pos = raw.indexOf(delim);
  while (pos !== -1) {
    const start = pos + delim.length;
    if (raw.subarray(start, start + 2).toString() === '--') break;
    const next = raw.indexOf(delim, start);
    if (next === -1) break;
    // Part = CRLF headers CRLF CRLF data CRLF
    const chunk = raw.subarray(start + 2, next - 2);
    const headerEnd = chunk.indexOf('\r\n\r\n');
    if (headerEnd !== -1) {
      const headerText = chunk.subarray(0, headerEnd).toString('utf8');
      const disp = /content-disposition:[^\r\n]*/i.exec(headerText)?.[0] ?? '';
      const name = /\bname="([^"]*)"/i.exec(disp)?.[1];
      const filename = /\bfilename="([^"]*)"/i.exec(disp)?.[1];
      const part: Part = { data: chunk.subarray(headerEnd + 4) };
      if (name !== undefined) part.name = name;
      if (filename !== undefined) part.filename = filename;
      parts.push(part);
    }
    pos = next;
  }
  return parts;
}

function firstFilePart(raw: Buffer, contentType: string): Part | undefined {
  const parts = multipartParts(raw, contentType);
  return parts.find((p) => p.filename !== undefined) ?? parts[0];
}
