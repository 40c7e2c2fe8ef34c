import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mailboxes } from '../../src/persistence/mailboxes.ts';
import { IntakeProducer } from '../../src/workers/intake-producer.ts';
import { QUEUES } from '../../src/workers/queues.ts';
import { createRedis } from '../../src/workers/redis.ts';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts';
import { TelegramStore } from '../../src/persistence/telegram-store.ts';
import { SecretBox } from '../../src/security/secret-box.ts';
import { apiClient, seedOrganization, startTestApp, type TestApp } from '../support/app.ts';
import { query } from '../support/database.ts';
import { until } from '../support/until.ts';
import { startFakeTelegram, type ApiCall, type FakeTelegram } from '../support/fake-telegram.ts';
import { callbackUpdate, documentUpdate, person, photoUpdate, replyTo, textUpdate, voiceUpdate } from '../support/telegram-updates.ts';

/*
 * The Telegram channel with the real telegraf code against a fake Bot API server: updates by long polling and
 * by webhook become tickets, answers go back into the chat.
 */

let tg: FakeTelegram;
let smtp: SmtpSink;
let app: TestApp;
let seed: Awaited<ReturnType<typeof seedOrganization>>;
let token: string;
const BOT_ID = 777001;
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

beforeAll(async () => {
  [tg, smtp] = await Promise.all([startFakeTelegram(), startSmtpSink()]);
  app = await startTestApp({
    env: { TELEGRAM_API_ROOT: tg.url, APP_SECRET: 'test-secret-test-secret', PUBLIC_URL: 'https://help.example.org', JOB_BACKOFF_MS: '100', JOB_BACKOFF_MAX_MS: '500', TELEGRAM_JOIN_WINDOW_MS: '0' },
    workerOptions: { email: { refreshMs: 300 }, telegram: { refreshMs: 300, pollTimeoutSeconds: 1 } },
  });
  seed = await seedOrganization(app, 'Bot Org');
  token = tg.addBot(BOT_ID, 'helpdesk_test_bot');
  await new TelegramStore(app.rt.orm, new SecretBox(app.rt.secret)).addBot({ organizationId: seed.org.id, botId: String(BOT_ID), username: 'helpdesk_test_bot', token, mode: 'polling' });
  // Mail goes out through the sink; nothing is read (the IMAP address refuses connections).
  await new Mailboxes(app.rt.orm, new SecretBox(app.rt.secret)).add({ organizationId: seed.org.id, address: 'support@bot-org.test', imapUrl: 'imap://u:p@127.0.0.1:1', smtpUrl: smtp.url, plusAddressing: false });
}, 60_000);

afterAll(async () => {
  await app?.stop();
  await Promise.all([tg?.close(), smtp?.close()]);
});

const sql = <T = Record<string, any>>(text: string, params: unknown[] = []) => query<T & Record<string, any>>(app.db.url, text, params);


/** The ticket the chat message went to, once committed. */
const ticketOf = (chatId: number, messageId: number) => until(async () => (await sql(
  `SELECT t.number, t.id, t.subject, t.description, t.channel FROM telegram_messages m JOIN tickets t ON t.id = m.ticket_id
    WHERE m.chat_id = $1 AND m.telegram_message_id = $2 AND m.direction = 'in'`, [chatId, messageId]))[0], `message ${messageId}`);

const sentTo = (chatId: number, method = 'sendMessage') => (c: ApiCall) => c.token === token && c.method === method && Number(c.params.chat_id) === chatId;

describe('writing to the bot', () => {
  it('registers the commands in three languages', async () => {
    await tg.waitForCall((c) => c.method === 'setMyCommands' && (c.params.language_code as string | undefined) === 'de');
    const langs = tg.calls.filter((c) => c.method === 'setMyCommands' && c.token === token).map((c) => c.params.language_code ?? 'default');
    expect(langs).toEqual(expect.arrayContaining(['default', 'ru', 'de']));
  });

  it('a text opens a ticket, and the bot answers with its number as a reply', async () => {
    const anna = person(9001, 'Anna', 'ru');
    const u = textUpdate(anna, 'Не работает принтер на 3 этаже');
    tg.pushUpdate(token, u);
    const t = await ticketOf(anna.id, u.message.message_id);
    expect(t).toMatchObject({ channel: 'telegram', description: 'Не работает принтер на 3 этаже' });
    const answer = await tg.waitForCall((c) => sentTo(anna.id)(c) && String(c.params.text).includes(`#${t.number}`));
    expect(answer.params.text).toContain('зарегистрировано');
    expect(answer.params.reply_parameters).toMatchObject({ message_id: u.message.message_id });
    const [reporter] = await sql(`SELECT r.name, r.locale FROM reporters r JOIN tickets t ON t.reporter_id = r.id WHERE t.id = $1`, [t.id]);
    expect(reporter).toMatchObject({ name: 'Anna', locale: 'ru' });
  });

  it('a photo alone opens a ticket with the photo; a document and a voice message keep their files', async () => {
    const ben = person(9002, 'Ben');
    const fileId = tg.addFile(PNG, 'photos/file_1.png');
    const u = photoUpdate(ben, fileId);
    tg.pushUpdate(token, u);
    const t = await ticketOf(ben.id, u.message.message_id);
    const [file] = await sql(`SELECT filename, content_type, size FROM attachments WHERE ticket_id = $1`, [t.id]);
    expect(file).toMatchObject({ content_type: 'image/png', size: String(PNG.length) });

    const doc = tg.addFile(Buffer.from('%PDF-1.4 report'), 'documents/file_2.pdf');
    const d = documentUpdate(ben, doc, 'Отчёт.pdf', { caption: 'the report' });
    tg.pushUpdate(token, d);
    const v = voiceUpdate(ben, tg.addFile(Buffer.from('OggS voice'), 'voice/file_3.oga'));
    tg.pushUpdate(token, v);
    // Ben has one open ticket: both join it.
    expect((await ticketOf(ben.id, d.message.message_id)).number).toBe(t.number);
    expect((await ticketOf(ben.id, v.message.message_id)).number).toBe(t.number);
    const files = await sql(`SELECT filename FROM attachments WHERE ticket_id = $1 ORDER BY created_at, filename`, [t.id]);
    expect(files.map((f) => f.filename)).toEqual(expect.arrayContaining(['Отчёт.pdf', `voice-${v.message.message_id}.ogg`]));
    const bodies = await sql(`SELECT body FROM messages WHERE ticket_id = $1 ORDER BY created_at`, [t.id]);
    expect(bodies.map((b) => b.body)).toContain('the report');
  });

  it('an album is one message with all its photos', async () => {
    const cleo = person(9003, 'Cleo');
    const a = photoUpdate(cleo, tg.addFile(PNG, 'photos/a.png'), { media_group_id: 'album-1', caption: 'Both sides of the door' });
    const b = photoUpdate(cleo, tg.addFile(PNG, 'photos/b.png'), { media_group_id: 'album-1' });
    tg.pushUpdate(token, a);
    tg.pushUpdate(token, b);
    const t = await ticketOf(cleo.id, a.message.message_id);
    expect((await ticketOf(cleo.id, b.message.message_id)).number).toBe(t.number);
    expect((await sql(`SELECT count(*)::int AS n FROM messages WHERE ticket_id = $1`, [t.id]))[0]!.n).toBe(1);
    expect((await sql(`SELECT count(*)::int AS n FROM attachments WHERE ticket_id = $1`, [t.id]))[0]!.n).toBe(2);
    expect(t.description).toBe('Both sides of the door');
  });

  it('the same update twice is one message; bots and service messages open nothing', async () => {
    const dan = person(9004, 'Dan');
    const u = textUpdate(dan, 'Once only');
    tg.pushUpdate(token, u);
    tg.pushUpdate(token, u);
    const t = await ticketOf(dan.id, u.message.message_id);
    tg.pushUpdate(token, { update_id: u.update_id + 100000, message: { ...textUpdate(dan, 'from a bot').message, from: { id: 5, is_bot: true, first_name: 'OtherBot' } } });
    tg.pushUpdate(token, { update_id: u.update_id + 100001, message: { message_id: 99999, date: 1, chat: { id: dan.id, type: 'private' }, from: { ...dan, is_bot: false }, pinned_message: { message_id: 1 } } });
    const later = textUpdate(person(9005, 'Eve'), 'marker');
    tg.pushUpdate(token, later);
    await ticketOf(9005, later.message.message_id);
    expect((await sql(`SELECT count(*)::int AS n FROM messages WHERE body = 'Once only'`))[0]!.n).toBe(1);
    expect((await sql(`SELECT count(*)::int AS n FROM messages WHERE body = 'from a bot'`))[0]!.n).toBe(0);
    expect(t.number).toBeGreaterThan(0);
  });
});

describe('answers', () => {
  it("an agent reply reaches the chat as a reply, with the agent's name and the file; the reporter's reply lands on the ticket", async () => {
    const fay = person(9006, 'Fay');
    const u = textUpdate(fay, 'Wi-Fi <router> & switch are down');
    tg.pushUpdate(token, u);
    const t = await ticketOf(fay.id, u.message.message_id);
    const confirmation = await tg.waitForCall((c) => sentTo(fay.id)(c) && String(c.params.text).includes(`#${t.number}`));
    const agent = apiClient(app.baseUrl, seed.agent.key);
    const fd = new FormData();
    fd.append('body', 'Restart the <router> & wait 5 min.');
    fd.append('file', new Blob([new TextEncoder().encode('steps')], { type: 'text/plain' }), 'steps.txt');
    expect((await agent.raw('POST', `/tickets/${t.number}/comments`, { body: fd })).status).toBeLessThan(300);
    expect((await agent.post(`/tickets/${t.number}/comments`, { body: 'internal: check the switch', internal: true })).status).toBeLessThan(300);

    const reply = await tg.waitForCall((c) => sentTo(fay.id)(c) && String(c.params.text).includes('Restart'));
    expect(reply.params.parse_mode).toBe('HTML');
    expect(reply.params.text).toContain(`agent ${seed.agent.email}`);
    expect(reply.params.text).toContain('Restart the &lt;router&gt; &amp; wait 5 min.');
    expect(reply.params.reply_parameters).toBeTruthy();
    const doc = await tg.waitForCall(sentTo(fay.id, 'sendDocument'));
    expect(doc.files.map((f) => [f.filename, f.content.toString()])).toEqual([['steps.txt', 'steps']]);
    expect(tg.calls.some((c) => String(c.params.text ?? '').includes('internal: check'))).toBe(false);

    // Fay answers the bot's message (a reply in Telegram).
    const botMessageId = (reply as unknown as { result?: number }).result ?? undefined;
    void botMessageId;
    const [lastOut] = await sql(`SELECT telegram_message_id FROM telegram_messages WHERE ticket_id = $1 AND direction = 'out' ORDER BY created_at DESC LIMIT 1`, [t.id]);
    const r = textUpdate(fay, 'Done, works now', replyTo(Number(lastOut!.telegram_message_id)));
    tg.pushUpdate(token, r);
    expect((await ticketOf(fay.id, r.message.message_id)).number).toBe(t.number);
    void confirmation;
  });

  it('splits an answer longer than 4096 characters', async () => {
    const gus = person(9007, 'Gus');
    const u = textUpdate(gus, 'Need the long manual');
    tg.pushUpdate(token, u);
    const t = await ticketOf(gus.id, u.message.message_id);
    const long = `Start. ${'Step: do the thing carefully. '.repeat(250)}End.`;
    await apiClient(app.baseUrl, seed.agent.key).post(`/tickets/${t.number}/comments`, { body: long });
    await tg.waitForCall((c) => sentTo(gus.id)(c) && String(c.params.text).includes('End.'));
    const parts = tg.calls.filter((c) => sentTo(gus.id)(c) && !String(c.params.text).includes(`#${t.number}:`) === false || (sentTo(gus.id)(c) && /Step:|End\./.test(String(c.params.text))));
    const texts = parts.map((c) => String(c.params.text)).filter((x) => /Step:|End\./.test(x));
    expect(texts.length).toBeGreaterThan(1);
    for (const x of texts) expect(x.length).toBeLessThanOrEqual(4096);
    expect(texts.join(' ')).toContain('Start.');
  });

  it('waits the retry_after of a 429, and marks a chat that blocked the bot undeliverable, visible on the ticket', async () => {
    const hal = person(9008, 'Hal');
    tg.failNext('sendMessage', { error_code: 429, description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } }, 1, hal.id);
    const u = textUpdate(hal, 'Rate limited please');
    const started = Date.now();
    tg.pushUpdate(token, u);
    const t = await ticketOf(hal.id, u.message.message_id);
    // The first try got the 429; the second comes after retry_after.
    await until(async () => tg.calls.filter((c) => sentTo(hal.id)(c) && String(c.params.text).includes(`#${t.number}`)).length >= 2, 'the second try');
    const tries = tg.calls.filter((c) => sentTo(hal.id)(c));
    expect(tries.length).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);

    tg.blockChat(hal.id);
    await apiClient(app.baseUrl, seed.agent.key).post(`/tickets/${t.number}/comments`, { body: 'Are you there?' });
    const event = await until(async () => (await sql(`SELECT changes FROM ticket_events WHERE ticket_id = $1 AND kind = 'delivery_failed'`, [t.id]))[0], 'delivery_failed');
    expect(event.changes.reason).toContain('blocked');
    const [identity] = await sql(`SELECT deliverable FROM reporter_identities WHERE kind = 'telegram' AND address = $1`, [String(hal.id)]);
    expect(identity!.deliverable).toBe(false);
  });
});

describe('several open tickets', () => {
  it('asks which ticket a message is about, and files it where the reporter chose', async () => {
    const ivy = person(9009, 'Ivy');
    const first = textUpdate(ivy, 'First problem');
    tg.pushUpdate(token, first);
    const t1 = await ticketOf(ivy.id, first.message.message_id);
    const forced = textUpdate(ivy, '/new Second problem');
    tg.pushUpdate(token, forced);
    const t2 = await ticketOf(ivy.id, forced.message.message_id);
    expect(t2.number).not.toBe(t1.number);
    expect(t2.description).toBe('Second problem');

    const which = textUpdate(ivy, 'Which one is this?');
    tg.pushUpdate(token, which);
    const question = await tg.waitForCall((c) => sentTo(ivy.id)(c) && Boolean(c.params.reply_markup));
    const buttons = (question.params.reply_markup as { inline_keyboard: Array<Array<{ callback_data: string }>> }).inline_keyboard.flat().map((b) => b.callback_data);
    expect(buttons).toEqual(expect.arrayContaining([`pick:${t1.number}`, `pick:${t2.number}`, 'pick:new']));
    const botMessage = { message_id: 50_000, date: 1, chat: { id: ivy.id, type: 'private' }, from: { id: BOT_ID, is_bot: true, first_name: 'bot' }, text: 'Which request is this about?', reply_to_message: which.message };
    tg.pushUpdate(token, callbackUpdate(ivy, `pick:${t1.number}`, botMessage));
    tg.pushUpdate(token, callbackUpdate(ivy, `pick:${t1.number}`, botMessage));
    expect((await ticketOf(ivy.id, which.message.message_id)).number).toBe(t1.number);
    expect((await sql(`SELECT count(*)::int AS n FROM messages WHERE body = 'Which one is this?'`))[0]!.n).toBe(1);
  });
});

describe('webhook', () => {
  it('sets the webhook with a secret, refuses a wrong secret, and takes updates with the right one', async () => {
    const hookToken = tg.addBot(777002, 'helpdesk_hook_bot');
    const store = new TelegramStore(app.rt.orm, new SecretBox(app.rt.secret));
    const bot = await store.addBot({ organizationId: seed.org.id, botId: '777002', username: 'helpdesk_hook_bot', token: hookToken, mode: 'webhook' });
    await tg.waitForCall((c) => c.token === hookToken && c.method === 'setWebhook');
    expect(tg.webhook(hookToken)).toEqual({ url: 'https://help.example.org/telegram/777002', secret_token: bot.webhookSecret });

    const kim = person(9010, 'Kim');
    const u = textUpdate(kim, 'Through the webhook');
    const post = (secret: string | null, body: unknown) => fetch(`${app.baseUrl}/telegram/777002`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...(secret ? { 'x-telegram-bot-api-secret-token': secret } : {}) }, body: JSON.stringify(body),
    });
    expect((await post(null, u)).status).toBe(403);
    expect((await post('wrong-secret', u)).status).toBe(403);
    expect((await post(bot.webhookSecret, { hello: 1 })).status).toBe(400);
    expect((await fetch(`${app.baseUrl}/telegram/123`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status).toBe(404);
    await new Promise((r) => setTimeout(r, 500));
    expect((await sql(`SELECT count(*)::int AS n FROM messages WHERE body = 'Through the webhook'`))[0]!.n).toBe(0);
    const res = await post(bot.webhookSecret, u);
    expect(res.status).toBe(200);
    expect((await post(bot.webhookSecret, u)).status).toBe(200);
    const t = await ticketOf(kim.id, u.message.message_id);
    expect(t.description).toBe('Through the webhook');
    await tg.waitForCall((c) => c.token === hookToken && c.method === 'sendMessage' && String(c.params.text).includes(`#${t.number}`));
    expect((await sql(`SELECT count(*)::int AS n FROM messages WHERE body = 'Through the webhook'`))[0]!.n).toBe(1);
  });
});

describe('commands and buttons', () => {
  it('/my lists the tickets, /close closes one, and a resolved ticket asks for a rating that is kept', async () => {
    const lea = person(9011, 'Lea', 'de');
    const u = textUpdate(lea, 'Drucker druckt nicht');
    tg.pushUpdate(token, u);
    const t = await ticketOf(lea.id, u.message.message_id);
    tg.pushUpdate(token, textUpdate(lea, '/my'));
    const list = await tg.waitForCall((c) => sentTo(lea.id)(c) && String(c.params.text).startsWith('Ihre Anfragen:'));
    expect(list.params.text).toContain(`#${t.number} · neu · Drucker druckt nicht`);
    expect(JSON.stringify(list.params.reply_markup)).toContain(`show:${t.number}`);

    const agent = apiClient(app.baseUrl, seed.agent.key);
    expect((await agent.patch(`/tickets/${t.number}`, { status: 'resolved' })).status).toBe(200);
    const ask = await tg.waitForCall((c) => sentTo(lea.id)(c) && JSON.stringify(c.params.reply_markup ?? '').includes(`rate:${t.number}:5`));
    expect(ask.params.text).toContain('gelöst');
    const botMessage = { message_id: 60_000, date: 1, chat: { id: lea.id, type: 'private' }, from: { id: BOT_ID, is_bot: true, first_name: 'bot' }, text: 'x' };
    tg.pushUpdate(token, callbackUpdate(lea, `rate:${t.number}:4`, botMessage));
    await until(async () => (await sql(`SELECT rating FROM tickets WHERE id = $1`, [t.id]))[0]!.rating === 4, 'the rating');
    expect((await sql(`SELECT count(*)::int AS n FROM ticket_events WHERE ticket_id = $1 AND kind = 'rated'`, [t.id]))[0]!.n).toBe(1);

    tg.pushUpdate(token, textUpdate(lea, `/close ${t.number}`));
    await tg.waitForCall((c) => sentTo(lea.id)(c) && String(c.params.text).includes(`#${t.number} ist geschlossen`));
    expect((await sql(`SELECT status FROM tickets WHERE id = $1`, [t.id]))[0]!.status).toBe('closed');
    tg.pushUpdate(token, textUpdate(lea, '/close 1'));
    await tg.waitForCall((c) => sentTo(lea.id)(c) && String(c.params.text).includes('Sie haben kein Ticket #1'));
  });

  it('an edited message changes the message on the ticket, recorded as an edit, and opens nothing', async () => {
    const max = person(9012, 'Max');
    const u = textUpdate(max, 'Room 12 is cold');
    tg.pushUpdate(token, u);
    const t = await ticketOf(max.id, u.message.message_id);
    tg.pushUpdate(token, { update_id: u.update_id + 200000, edited_message: { ...u.message, text: 'Room 21 is cold', edit_date: Math.floor(Date.now() / 1000) } });
    await until(async () => (await sql(`SELECT body FROM messages WHERE ticket_id = $1`, [t.id]))[0]!.body === 'Room 21 is cold', 'the edit');
    const [edit] = await sql(`SELECT changes FROM ticket_events WHERE ticket_id = $1 AND kind = 'message_edited'`, [t.id]);
    expect(edit!.changes.body).toEqual({ from: 'Room 12 is cold', to: 'Room 21 is cold' });
    const stray = textUpdate(max, 'never sent before');
    tg.pushUpdate(token, { update_id: stray.update_id + 200000, edited_message: { ...stray.message, edit_date: 1 } });
    await new Promise((r) => setTimeout(r, 500));
    expect((await sql(`SELECT count(*)::int AS n FROM messages WHERE body = 'never sent before'`))[0]!.n).toBe(0);
  });
});

describe('one person, two channels', () => {
  it('links a chat to the reporter who wrote by mail (/start link_<code>), and falls back to mail when the bot is blocked', async () => {
    const redis = createRedis(app.rt.redisUrl, 'blocking', 'test-events');
    const events = new QueueEvents(QUEUES.intake, { connection: redis, prefix: app.config.queuePrefix });
    await events.waitUntilReady();
    try {
      const producer = new IntakeProducer(app.rt.intakeQueue, events, app.config);
      // Lena first wrote to the bot, then by mail: two reporters so far.
      const lena = person(9013, 'Lena');
      const u = textUpdate(lena, 'Chat first');
      tg.pushUpdate(token, u);
      const chatTicket = await ticketOf(lena.id, u.message.message_id);
      const mailed = await producer.submitAndWait({
        organizationId: seed.org.id, channel: 'email', externalId: '<lena-1@customer.test>',
        sender: { kind: 'email', address: 'lena@customer.test', name: 'Lena' }, subject: 'Mail second', text: 'By mail', receivedAt: new Date().toISOString(),
      }, 10_000);
      expect(mailed.state).toBe('committed');
      const confirmation = await smtp.waitFor((m) => m.envelopeTo.includes('lena@customer.test'));
      const code = /https:\/\/t\.me\/helpdesk_test_bot\?start=link_([\w-]+)/.exec(confirmation.parsed.text ?? '')?.[1];
      expect(code).toBeTruthy();

      tg.pushUpdate(token, textUpdate(lena, `/start link_${code}`));
      await tg.waitForCall((c) => sentTo(lena.id)(c) && String(c.params.text).startsWith('Done'));
      const reporters = await sql(`SELECT DISTINCT reporter_id FROM tickets WHERE id IN ($1, (SELECT ticket_id FROM intake_receipts WHERE external_id = '<lena-1@customer.test>'))`, [chatTicket.id]);
      expect(reporters).toHaveLength(1);
      const identities = await sql(`SELECT kind FROM reporter_identities WHERE reporter_id = $1 ORDER BY kind`, [reporters[0]!.reporter_id]);
      expect(identities.map((i) => i.kind)).toEqual(['email', 'telegram']);
      // The code works once.
      tg.pushUpdate(token, textUpdate(lena, `/start link_${code}`));
      await tg.waitForCall((c) => sentTo(lena.id)(c) && String(c.params.text).includes('not valid'));

      // She blocks the bot: the answer on her chat ticket reaches her by mail instead.
      tg.blockChat(lena.id);
      await apiClient(app.baseUrl, seed.agent.key).post(`/tickets/${chatTicket.number}/comments`, { body: 'Answer for Lena' });
      const fallback = await smtp.waitFor((m) => m.envelopeTo.includes('lena@customer.test') && (m.parsed.text ?? '').includes('Answer for Lena'));
      expect(fallback.parsed.subject).toContain(`[#${chatTicket.number}]`);
      const [event] = await sql(`SELECT changes FROM ticket_events WHERE ticket_id = $1 AND kind = 'delivery_failed'`, [chatTicket.id]);
      expect(event!.changes.address).toBe(String(lena.id));
    } finally {
      await events.close();
      redis.disconnect();
    }
  });

  it('a chat that blocked the bot is marked at once (my_chat_member)', async () => {
    const ned = person(9014, 'Ned');
    const u = textUpdate(ned, 'hello');
    tg.pushUpdate(token, u);
    await ticketOf(ned.id, u.message.message_id);
    tg.pushUpdate(token, {
      update_id: u.update_id + 300000,
      my_chat_member: {
        chat: { id: ned.id, type: 'private' }, from: { ...ned, is_bot: false }, date: 1,
        old_chat_member: { user: { id: BOT_ID, is_bot: true, first_name: 'bot' }, status: 'member' },
        new_chat_member: { user: { id: BOT_ID, is_bot: true, first_name: 'bot' }, status: 'kicked', until_date: 0 },
      },
    });
    await until(async () => (await sql(`SELECT deliverable FROM reporter_identities WHERE kind = 'telegram' AND address = $1`, [String(ned.id)]))[0]!.deliverable === false, 'the block');
  });
});

describe('object passports', () => {
  it('/start obj_<token> makes the next message a request about that object', async () => {
    const lift = await app.directory.createObject(seed.org.id, { name: 'Lift 2, building A', kind: 'lift' });
    const olga = person(9015, 'Olga', 'ru');
    tg.pushUpdate(token, textUpdate(olga, `/start obj_${lift.passportToken}`));
    await tg.waitForCall((c) => sentTo(olga.id)(c) && String(c.params.text).includes('Lift 2, building A'));
    const u = textUpdate(olga, 'Застрял между этажами');
    tg.pushUpdate(token, u);
    const t = await ticketOf(olga.id, u.message.message_id);
    const [row] = await sql(`SELECT object_id FROM tickets WHERE id = $1`, [t.id]);
    expect(row!.object_id).toBe(lift.id);
    // Another organization's token names nothing here.
    const other = await seedOrganization(app);
    const foreign = await app.directory.createObject(other.org.id, { name: 'Foreign printer' });
    tg.pushUpdate(token, textUpdate(olga, `/start obj_${foreign.passportToken}`));
    await tg.waitForCall((c) => sentTo(olga.id)(c) && String(c.params.text).startsWith('Здравствуйте'));
  });
});

describe('administration', () => {
  const cli = (args: string[], env: Record<string, string> = {}) => promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], {
    env: { ...process.env, DATABASE_URL: app.db.url, DATA_DIR: app.dataDir, APP_SECRET: 'test-secret-test-secret', LOG_LEVEL: 'silent', TELEGRAM_API_ROOT: tg.url, ...env }, timeout: 60_000,
  });

  it('adds a bot after getMe, lists, tests and removes it; a wrong token is refused', async () => {
    const other = await seedOrganization(app, 'CLI Bot Org');
    const botToken = tg.addBot(777003, 'cli_added_bot');
    await expect(cli(['telegram', 'add', '--org', other.org.slug, '--token', '777999:AAHwrongwrongwrongwrongwrongwrong']))
      .rejects.toMatchObject({ stderr: expect.stringContaining('refused the token') });
    const added = JSON.parse((await cli(['telegram', 'add', '--org', other.org.slug, '--token', botToken])).stdout);
    expect(added).toMatchObject({ bot: '@cli_added_bot', id: '777003', mode: 'polling' });
    const listed = JSON.parse((await cli(['telegram', 'list', '--org', other.org.slug])).stdout);
    expect(listed).toEqual([expect.objectContaining({ username: 'cli_added_bot', bot_id: '777003' })]);
    expect(JSON.stringify(listed)).not.toContain(botToken.split(':')[1]);
    const [stored] = await sql(`SELECT token FROM telegram_bots WHERE bot_id = 777003`);
    expect(stored!.token).not.toContain(botToken.split(':')[1]);
    expect(JSON.parse((await cli(['telegram', 'test', '@cli_added_bot'])).stdout)).toMatchObject({ bot: '@cli_added_bot', id: 777003 });
    expect(JSON.parse((await cli(['telegram', 'remove', '@cli_added_bot'])).stdout)).toEqual({ removed: '@cli_added_bot' });
    expect(await sql(`SELECT 1 FROM telegram_bots WHERE bot_id = 777003`)).toHaveLength(0);
  }, 90_000);

  it('connects the bot the environment names at start', async () => {
    const envOrg = await app.directory.createOrganization('Env Bot Org', 'env-bot-org');
    const envToken = tg.addBot(777004, 'env_defined_bot');
    const second = await startTestApp({
      db: app.db, web: false,
      env: { TELEGRAM_API_ROOT: tg.url, APP_SECRET: 'test-secret-test-secret', TELEGRAM_BOT_TOKEN: envToken, TELEGRAM_ORGANIZATION: 'env-bot-org' },
      workerOptions: { email: false, telegram: { refreshMs: 300, pollTimeoutSeconds: 1 } },
    });
    try {
      const [row] = await sql(`SELECT organization_id, username, mode FROM telegram_bots WHERE bot_id = 777004`);
      expect(row).toMatchObject({ organization_id: envOrg.id, username: 'env_defined_bot', mode: 'polling' });
      await tg.waitForCall((c) => c.token === envToken && c.method === 'getUpdates');
    } finally {
      await second.stop();
    }
  }, 60_000);
});

describe('after review', () => {
  it('a 429 in the middle of an answer sends only the rest after the wait', async () => {
    const pia = person(9016, 'Pia');
    const u = textUpdate(pia, 'Send me the form');
    tg.pushUpdate(token, u);
    const t = await ticketOf(pia.id, u.message.message_id);
    await tg.waitForCall((c) => sentTo(pia.id)(c) && String(c.params.text).includes(`#${t.number}`));
    tg.failNext('sendDocument', { error_code: 429, description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } }, 1, pia.id);
    const fd = new FormData();
    fd.append('body', 'Here is the form.');
    fd.append('file', new Blob([new TextEncoder().encode('form')], { type: 'text/plain' }), 'form.txt');
    await apiClient(app.baseUrl, seed.agent.key).raw('POST', `/tickets/${t.number}/comments`, { body: fd });
    await until(async () => tg.calls.filter(sentTo(pia.id, 'sendDocument')).length >= 2, 'the second document try');
    await new Promise((r) => setTimeout(r, 300));
    expect(tg.calls.filter((c) => sentTo(pia.id)(c) && String(c.params.text).includes('Here is the form.'))).toHaveLength(1);
  });

  it('ignores group chats, and files an album part that comes late onto the album\'s ticket', async () => {
    const quinn = person(9017, 'Quinn');
    const group = textUpdate(quinn, '/my');
    (group.message as { chat: { id: number; type: string } }).chat = { id: -100123, type: 'supergroup' };
    tg.pushUpdate(token, group);
    const a = photoUpdate(quinn, tg.addFile(PNG, 'photos/q1.png'), { media_group_id: 'album-q' });
    tg.pushUpdate(token, a);
    const t = await ticketOf(quinn.id, a.message.message_id);
    const late = photoUpdate(quinn, tg.addFile(PNG, 'photos/q2.png'), { media_group_id: 'album-q' });
    tg.pushUpdate(token, late);
    expect((await ticketOf(quinn.id, late.message.message_id)).number).toBe(t.number);
    expect((await sql(`SELECT count(*)::int AS n FROM attachments WHERE ticket_id = $1`, [t.id]))[0]!.n).toBe(2);
    expect(tg.calls.some((c) => Number(c.params.chat_id) === -100123)).toBe(false);
  });
});
