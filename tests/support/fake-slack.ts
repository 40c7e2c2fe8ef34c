import http from 'node:http';
import type { AddressInfo } from 'node:net';
import busboy from 'busboy';

/*
 * A Slack Web API server for tests: the methods the helpdesk calls, with Slack's response shapes (`ok`,
 * `error`, `ts`...), form-urlencoded or JSON bodies and Bearer tokens, `ok: false` errors and 429 with
 * Retry-After on demand. It also serves private file downloads, the upload URLs of files.uploadV2, and
 * response_urls.
 */

export interface SlackCall { method: string; token: string | null; params: Record<string, any>; at: number }
export interface SlackUser { id: string; name: string; email?: string; isBot?: boolean; teamId?: string; stranger?: boolean; guest?: boolean }
export interface FileOptions { hidden?: boolean; status?: number; delayMs?: number }
export type Failure = { status: 429; retryAfter: number } | { error: string } | { status: 500 };

export interface FakeSlack {
  /** Web API root, as SLACK_API_URL takes it. */
  url: string;
  base: string;
  calls: SlackCall[];
  /** Messages in the workspaces, by team, channel and ts: what the bot posted, and what people wrote. */
  messages: Map<string, { channel: string; ts: string; text: string; thread_ts?: string; blocks?: any[] }>;
  /** A message a person wrote (as the test posts its event), so that reactions to it work as in Slack. */
  userMessage(teamId: string, channel: string, ts: string, text: string): void;
  uploads: Array<{ fileId: string; filename: string; content: Buffer; channel?: string; threadTs?: string }>;
  responses: Array<{ path: string; body: any }>;
  addWorkspace(teamId: string, botUserId: string): string;
  addUser(u: SlackUser): void;
  /** Deletes a message, as a person can in Slack. */
  deleteMessage(teamId: string, channel: string, ts: string): void;
  /**
   * A file the bot can download at the returned url_private_download (with its token; `hidden`: never, as without
   * files:read; `status`: the download always answers that; `delayMs`: the download answers that late).
   */
  addFile(content: Buffer, name: string, mimetype: string, opts?: FileOptions): { id: string; name: string; mimetype: string; size: number; url_private_download: string; url_private: string };
  /** The next `times` calls of `method` (that `when` accepts) fail this way. */
  failNext(method: string, failure: Failure, times?: number, when?: (params: Record<string, any>) => boolean): void;
  waitForCall(match: (c: SlackCall) => boolean, timeoutMs?: number): Promise<SlackCall>;
  close(): Promise<void>;
}

export async function startFakeSlack(): Promise<FakeSlack> {
  const calls: SlackCall[] = [];
  const messages: FakeSlack['messages'] = new Map();
  const uploads: FakeSlack['uploads'] = [];
  const responses: FakeSlack['responses'] = [];
  const tokens = new Map<string, { teamId: string; botUserId: string }>();
  const users = new Map<string, SlackUser>();
  const files = new Map<string, { content: Buffer; mimetype: string; name: string } & FileOptions>();
  const fileLink = (id: string, name: string) => `${base}/files-pri/${id}/${encodeURIComponent(name)}`;
  const pendingUploads = new Map<string, { filename: string; content?: Buffer }>();
  const failures = new Map<string, Array<{ failure: Failure; when?: (params: Record<string, any>) => boolean }>>();
  const reactions = new Set<string>();
  const waiters: Array<{ match: (c: SlackCall) => boolean; resolve: (c: SlackCall) => void }> = [];
  let seq = 0;
  const nextTs = () => `${Math.floor(Date.now() / 1000)}.${String(++seq).padStart(6, '0')}`;
  let base = '';

  const methods: Record<string, (p: Record<string, any>, auth: { teamId: string; botUserId: string }) => Record<string, unknown>> = {
    'auth.test': (_p, a) => ({ url: `https://${a.teamId.toLowerCase()}.slack.com/`, team: `Team ${a.teamId}`, user: 'helpdesk', team_id: a.teamId, user_id: a.botUserId, bot_id: `B${a.botUserId}`, is_enterprise_install: false }),
    'chat.postMessage': (p, a) => {
      if (!p.channel) return { error: 'channel_not_found' };
      if (!p.text && !p.blocks) return { error: 'no_text' };
      const ts = nextTs();
      const m = { channel: p.channel, ts, text: p.text ?? '', ...(p.thread_ts ? { thread_ts: p.thread_ts } : {}), ...(p.blocks ? { blocks: p.blocks } : {}) };
      messages.set(`${a.teamId}/${p.channel}/${ts}`, m);
      return { channel: p.channel, ts, message: { type: 'message', user: 'bot', text: m.text, ts, ...(p.thread_ts ? { thread_ts: p.thread_ts } : {}), ...(p.blocks ? { blocks: p.blocks } : {}) } };
    },
    'chat.update': (p, a) => {
      const m = messages.get(`${a.teamId}/${p.channel}/${p.ts}`);
      if (!m) return { error: 'message_not_found' };
      m.text = p.text ?? m.text;
      if (p.blocks) m.blocks = p.blocks;
      return { channel: p.channel, ts: p.ts, text: m.text, message: { text: m.text } };
    },
    'chat.postEphemeral': () => ({ message_ts: nextTs() }),
    'chat.getPermalink': (p, a) => {
      if (!messages.has(`${a.teamId}/${p.channel}/${p.message_ts}`)) return { error: 'message_not_found' };
      return { channel: p.channel, permalink: `https://${a.teamId.toLowerCase()}.slack.com/archives/${p.channel}/p${String(p.message_ts).replace('.', '')}` };
    },
    'reactions.add': (p, a) => {
      if (!p.timestamp || !messages.has(`${a.teamId}/${p.channel}/${p.timestamp}`)) return { error: 'message_not_found' };
      const key = `${a.teamId}/${p.channel}/${p.timestamp}/${p.name}`;
      if (reactions.has(key)) return { error: 'already_reacted' };
      reactions.add(key);
      return {};
    },
    'users.info': (p, a) => {
      const u = users.get(p.user);
      if (!u) return { error: 'user_not_found' };
      return { user: { id: u.id, team_id: u.teamId ?? a.teamId, ...(u.stranger ? { is_stranger: true } : {}), is_restricted: Boolean(u.guest), is_ultra_restricted: false, name: u.name.toLowerCase().replace(/\s+/g, '.'), real_name: u.name, is_bot: Boolean(u.isBot), deleted: false,
        profile: { real_name: u.name, display_name: u.name.split(' ')[0], ...(u.email ? { email: u.email } : {}) } } };
    },
    'views.open': (p) => {
      const view = typeof p.view === 'string' ? JSON.parse(p.view) : p.view;
      if (!p.trigger_id) return { error: 'invalid_arguments' };
      return { view: { id: `V${++seq}`, hash: `h${seq}`, ...view } };
    },
    'files.info': (p) => {
      const f = files.get(p.file);
      if (!f) return { error: 'file_not_found' };
      return { file: { id: p.file, name: f.name, title: f.name, mimetype: f.mimetype, size: f.content.length, mode: 'hosted', url_private: fileLink(p.file, f.name), url_private_download: fileLink(p.file, f.name) } };
    },
    'conversations.info': (p) => ({ channel: { id: p.channel, name: `channel-${String(p.channel).toLowerCase()}`, is_member: true } }),
    'files.getUploadURLExternal': (p) => {
      if (!p.filename || !p.length) return { error: 'invalid_arguments' };
      const fileId = `F${++seq}`;
      pendingUploads.set(fileId, { filename: p.filename });
      return { upload_url: `${base}/upload/${fileId}`, file_id: fileId };
    },
    'files.completeUploadExternal': (p) => {
      const list = (typeof p.files === 'string' ? JSON.parse(p.files) : p.files) as Array<{ id: string; title?: string }>;
      for (const f of list) {
        const up = pendingUploads.get(f.id);
        if (!up?.content) return { error: 'file_not_found' };
        uploads.push({ fileId: f.id, filename: up.filename, content: up.content, channel: p.channel_id, threadTs: p.thread_ts });
      }
      return { files: list.map((f) => ({ id: f.id, title: f.title ?? '' })) };
    },
  };

  const record = (c: SlackCall) => {
    calls.push(c);
    for (const w of [...waiters]) {
      if (w.match(c)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(c);
      }
    }
  };

  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://x');
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(JSON.stringify(body));
    };
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? null;

    if (url.pathname.startsWith('/upload/')) {
      const id = url.pathname.split('/')[2]!;
      const up = pendingUploads.get(id);
      if (!up) return json(404, { ok: false });
      // The Web API client sends the file as multipart form data (as Slack's upload URL accepts), or raw bytes.
      up.content = (req.headers['content-type'] ?? '').startsWith('multipart/') ? await fileFromMultipart(req.headers, raw) : raw;
      res.writeHead(200, { 'content-type': 'text/plain' });
      return res.end(`OK - ${raw.length}`);
    }
    if (url.pathname === '/login') {
      // Where Slack sends a file download without a (valid) token: a sign-in page, answered 200.
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end('<!DOCTYPE html><html><body>Sign in to Slack</body></html>');
    }
    if (url.pathname.startsWith('/files-pri/')) {
      const id = url.pathname.split('/')[2]!;
      const f = files.get(id);
      if (!bearer || !tokens.has(bearer) || f?.hidden) {
        res.writeHead(302, { location: `${base}/login` });
        return res.end();
      }
      if (!f) return json(404, { ok: false });
      if (f.delayMs) await new Promise((r) => setTimeout(r, f.delayMs));
      if (f.status) return json(f.status, { ok: false });
      res.writeHead(200, { 'content-type': f.mimetype, 'content-length': String(f.content.length) });
      return res.end(f.content);
    }
    if (url.pathname.startsWith('/response/')) {
      const body = JSON.parse(raw.toString('utf8'));
      responses.push({ path: url.pathname, body });
      record({ method: 'response_url', token: null, params: { path: url.pathname, ...body }, at: Date.now() });
      return json(200, { ok: true });
    }
    const method = url.pathname.replace(/^\/api\//, '');
    const type = req.headers['content-type'] ?? '';
    let params: Record<string, any> = {};
    if (type.startsWith('application/json')) params = raw.length ? JSON.parse(raw.toString('utf8')) : {};
    else if (type.startsWith('application/x-www-form-urlencoded')) {
      for (const [k, v] of new URLSearchParams(raw.toString('utf8'))) {
        params[k] = /^[[{]/.test(v) ? (() => { try { return JSON.parse(v); } catch { return v; } })() : v;
      }
    }
    const token = bearer ?? (params.token as string | undefined) ?? null;
    const call: SlackCall = { method, token, params, at: Date.now() };
    const queued = failures.get(method) ?? [];
    const index = queued.findIndex((q) => !q.when || q.when(params));
    if (index >= 0) {
      const f = queued.splice(index, 1)[0]!.failure;
      record({ ...call, params: { ...params, failedWith: f } });
      if ('status' in f && f.status === 429) return json(429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(f.retryAfter) });
      if ('status' in f) return json(f.status, { ok: false, error: 'internal_error' });
      return json(200, { ok: false, error: f.error });
    }
    const handler = methods[method];
    if (!handler) return json(200, { ok: false, error: 'unknown_method' });
    const auth = token ? tokens.get(token) : undefined;
    if (!auth) {
      record(call);
      return json(200, { ok: false, error: token ? 'invalid_auth' : 'not_authed' });
    }
    const result = handler(params, auth);
    record(call);
    if ('error' in result) return json(200, { ok: false, ...result });
    return json(200, { ok: true, ...result });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: `${base}/api/`,
    base,
    calls,
    messages,
    uploads,
    responses,
    addWorkspace(teamId, botUserId) {
      const token = `xoxb-${teamId}-${Math.random().toString(36).slice(2, 12)}`;
      tokens.set(token, { teamId, botUserId });
      return token;
    },
    addUser(u) {
      users.set(u.id, u);
    },
    userMessage(teamId, channel, ts, text) {
      messages.set(`${teamId}/${channel}/${ts}`, { channel, ts, text });
    },
    deleteMessage(teamId, channel, ts) {
      messages.delete(`${teamId}/${channel}/${ts}`);
    },
    addFile(content, name, mimetype, opts = {}) {
      const id = `F${++seq}`;
      files.set(id, { content, mimetype, name, ...opts });
      const link = fileLink(id, name);
      return { id, name, mimetype, size: content.length, url_private_download: link, url_private: link };
    },
    failNext(method, failure, times = 1, when) {
      const list = failures.get(method) ?? [];
      for (let i = 0; i < times; i++) list.push({ failure, when });
      failures.set(method, list);
    },
    waitForCall(match, timeoutMs = 15_000) {
      const found = calls.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { match, resolve };
        waiters.push(w);
        setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) {
            waiters.splice(i, 1);
            reject(new Error('timed out waiting for a Slack API call'));
          }
        }, timeoutMs).unref();
      });
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function fileFromMultipart(headers: http.IncomingHttpHeaders, raw: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    const bb = busboy({ headers });
    bb.on('file', (_name, stream) => {
      stream.on('data', (d: Buffer) => parts.push(d));
    });
    bb.on('close', () => resolve(Buffer.concat(parts)));
    bb.on('error', reject);
    bb.end(raw);
  });
}
