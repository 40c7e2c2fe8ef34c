import http from 'node:http';
import busboy from 'busboy';

/*
 * A Bot API server that behaves like the real one where the bot depends on it: `POST /bot<token>/<method>`
 * with JSON, form-urlencoded or multipart bodies (files uploaded as multipart parts), `{ ok, result }` or
 * `{ ok: false, error_code, description, parameters }` answers, file downloads under `/file/bot<token>/`,
 * and getUpdates with offset and long-poll timeout. Every call is recorded for the test to look at.
 */

export interface ApiCall { method: string; token: string; params: Record<string, unknown>; files: Array<{ field: string; filename: string; content: Buffer }> }
export interface ApiError { error_code: number; description: string; parameters?: Record<string, unknown> }

export interface FakeTelegram {
  url: string;
  calls: ApiCall[];
  /** Registers a bot; its token is `<id>:<secret>`. */
  addBot(id: number, username: string): string;
  /** A file the bot can getFile and download; returns its file_id. */
  addFile(content: Buffer, path: string): string;
  /** Queues an update for getUpdates. */
  pushUpdate(token: string, update: Record<string, unknown>): void;
  /** The next `times` calls of `method` (to `chatId`, when given) fail with this error. */
  failNext(method: string, error: ApiError, times?: number, chatId?: number): void;
  /** Calls to this chat fail with 403, as when the user blocked the bot. */
  blockChat(chatId: number): void;
  waitForCall(match: (c: ApiCall) => boolean, timeoutMs?: number): Promise<ApiCall>;
  webhook(token: string): { url: string; secret_token?: string } | null;
  close(): Promise<void>;
}

interface Bot { id: number; username: string; updates: Array<Record<string, unknown>>; waiters: Array<() => void>; webhook: { url: string; secret_token?: string } | null }

export async function startFakeTelegram(): Promise<FakeTelegram> {
  const bots = new Map<string, Bot>();
  const files = new Map<string, { content: Buffer; path: string }>();
  const calls: ApiCall[] = [];
  const failures: Array<{ method: string; error: ApiError; times: number; chatId?: number }> = [];
  const blocked = new Set<number>();
  const callWaiters: Array<{ match: (c: ApiCall) => boolean; resolve: (c: ApiCall) => void }> = [];
  let nextMessageId = 1000;

  const botUser = (bot: Bot) => ({ id: bot.id, is_bot: true, first_name: bot.username, username: bot.username });
  const message = (bot: Bot, chatId: unknown, extra: Record<string, unknown>) => ({
    message_id: ++nextMessageId, date: Math.floor(Date.now() / 1000), from: botUser(bot),
    chat: { id: Number(chatId), type: 'private' }, ...extra,
  });

  const methods: Record<string, (bot: Bot, p: Record<string, unknown>, c: ApiCall) => unknown> = {
    getMe: (bot) => ({ ...botUser(bot), can_join_groups: false, can_read_all_group_messages: false, supports_inline_queries: false }),
    setMyCommands: () => true,
    deleteMyCommands: () => true,
    setWebhook: (bot, p) => {
      bot.webhook = { url: String(p.url), secret_token: p.secret_token as string | undefined };
      return true;
    },
    deleteWebhook: (bot) => {
      bot.webhook = null;
      return true;
    },
    getWebhookInfo: (bot) => ({ url: bot.webhook?.url ?? '', has_custom_certificate: false, pending_update_count: bot.updates.length }),
    sendMessage: (bot, p) => message(bot, p.chat_id, { text: p.text, ...(p.reply_parameters ? { reply_to_message: { message_id: (p.reply_parameters as { message_id: number }).message_id } } : {}) }),
    sendPhoto: (bot, p) => message(bot, p.chat_id, { photo: [{ file_id: 'sent-photo', file_unique_id: 'u', width: 1, height: 1 }], caption: p.caption }),
    sendDocument: (bot, p, c) => message(bot, p.chat_id, { document: { file_id: 'sent-doc', file_unique_id: 'u', file_name: c.files[0]?.filename }, caption: p.caption }),
    sendMediaGroup: (bot, p) => (JSON.parse(String(p.media)) as unknown[]).map(() => message(bot, p.chat_id, { photo: [] })),
    answerCallbackQuery: () => true,
    editMessageReplyMarkup: () => true,
    getFile: (_bot, p) => {
      const f = files.get(String(p.file_id));
      if (!f) throw { error_code: 400, description: 'Bad Request: invalid file_id' } satisfies ApiError;
      return { file_id: p.file_id, file_unique_id: `u-${p.file_id}`, file_size: f.content.length, file_path: f.path };
    },
  };

  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const download = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
      if (download) {
        const f = [...files.values()].find((x) => x.path === decodeURIComponent(download[2]!));
        if (!f || !bots.has(download[1]!)) {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': f.content.length }).end(f.content);
        return;
      }
      const m = /^\/bot([^/]+)\/(\w+)$/.exec(url.pathname);
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      if (!m) return reply(404, { ok: false, error_code: 404, description: 'Not Found' });
      const [, token, method] = m as unknown as [string, string, string];
      const bot = bots.get(token);
      if (!bot) return reply(401, { ok: false, error_code: 401, description: 'Unauthorized' });
      const { params, files: uploaded } = await readBody(req, url);
      const call: ApiCall = { method, token, params, files: uploaded };
      calls.push(call);
      for (const w of [...callWaiters]) if (w.match(call)) { callWaiters.splice(callWaiters.indexOf(w), 1); w.resolve(call); }
      const failure = failures.find((f) => f.method === method && f.times > 0 && (f.chatId === undefined || Number(params.chat_id) === f.chatId));
      if (failure) {
        failure.times -= 1;
        return reply(failure.error.error_code, { ok: false, ...failure.error });
      }
      if (params.chat_id !== undefined && blocked.has(Number(params.chat_id)) && method.startsWith('send')) {
        return reply(403, { ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user' });
      }
      if (method === 'getUpdates') return reply(200, { ok: true, result: await getUpdates(bot, params) });
      const handler = methods[method];
      if (!handler) return reply(404, { ok: false, error_code: 404, description: 'Not Found: method not found' });
      try {
        reply(200, { ok: true, result: handler(bot, params, call) });
      } catch (err) {
        const e = err as ApiError;
        reply(e.error_code ?? 500, { ok: false, error_code: e.error_code ?? 500, description: e.description ?? String(err) });
      }
    })().catch((err) => {
      res.writeHead(500).end(String(err));
    });
  });

  async function getUpdates(bot: Bot, p: Record<string, unknown>): Promise<unknown[]> {
    if (bot.webhook) throw { error_code: 409, description: "Conflict: can't use getUpdates method while webhook is active" } satisfies ApiError;
    const offset = Number(p.offset ?? 0);
    // A positive offset confirms every update before it.
    if (offset > 0) bot.updates = bot.updates.filter((u) => Number(u.update_id) >= offset);
    const limit = Math.min(100, Number(p.limit ?? 100));
    if (bot.updates.length === 0 && Number(p.timeout ?? 0) > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Number(p.timeout) * 1000);
        bot.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
    return bot.updates.slice(0, limit);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    addBot(id, username) {
      const token = `${id}:AAH${Math.random().toString(36).slice(2).padEnd(30, 'x')}`;
      bots.set(token, { id, username, updates: [], waiters: [], webhook: null });
      return token;
    },
    addFile(content, path) {
      const id = `file-${files.size + 1}-${Math.random().toString(36).slice(2, 8)}`;
      files.set(id, { content, path });
      return id;
    },
    pushUpdate(token, update) {
      const bot = bots.get(token)!;
      bot.updates.push(update);
      for (const w of bot.waiters.splice(0)) w();
    },
    failNext(method, error, times = 1, chatId) {
      failures.push({ method, error, times, chatId });
    },
    blockChat(chatId) {
      blocked.add(chatId);
    },
    waitForCall(match, timeoutMs = 15_000) {
      const found = calls.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { match, resolve: (c: ApiCall) => { clearTimeout(timer); resolve(c); } };
        const timer = setTimeout(() => {
          callWaiters.splice(callWaiters.indexOf(w), 1);
          reject(new Error(`no matching Bot API call within ${timeoutMs} ms; calls: ${calls.map((c) => c.method).join(', ')}`));
        }, timeoutMs);
        callWaiters.push(w);
      });
    },
    webhook: (token) => bots.get(token)?.webhook ?? null,
    close: () => new Promise<void>((resolve) => {
      for (const bot of bots.values()) for (const w of bot.waiters.splice(0)) w();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

async function readBody(req: http.IncomingMessage, url: URL): Promise<{ params: Record<string, unknown>; files: ApiCall['files'] }> {
  const params: Record<string, unknown> = Object.fromEntries(url.searchParams);
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('multipart/form-data')) {
    const files: ApiCall['files'] = [];
    await new Promise<void>((resolve, reject) => {
      const bb = busboy({ headers: req.headers });
      bb.on('field', (name, value) => { params[name] = parseValue(value); });
      bb.on('file', (field, stream, info) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => files.push({ field, filename: info.filename ?? "", content: Buffer.concat(chunks) }));
      });
      bb.on('close', () => resolve());
      bb.on('error', reject);
      req.pipe(bb);
    });
    return { params, files };
  }
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (type.includes('application/json') && text) Object.assign(params, JSON.parse(text));
  else if (type.includes('application/x-www-form-urlencoded')) for (const [k, v] of new URLSearchParams(text)) params[k] = parseValue(v);
  return { params, files: [] };
}

/** Form values that are JSON (reply_markup, reply_parameters) arrive as text, as the real API accepts them. */
function parseValue(value: string): unknown {
  if (/^[[{]/.test(value)) {
    try {
      return JSON.parse(value);
    } catch {
      return value;
    }
  }
  return value;
}
