import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectWorkspace } from '../../src/channels/slack/index.ts';
import { inboundJobId, type SlackInboundJob } from '../../src/channels/slack/queues.ts';
import { LocalDiskStorage } from '../../src/storage/local-disk.ts';
import { Mailboxes } from '../../src/persistence/mailboxes.ts';
import { SlackStore } from '../../src/persistence/slack-store.ts';
import { TelegramStore } from '../../src/persistence/telegram-store.ts';
import { SecretBox } from '../../src/security/secret-box.ts';
import { IntakeProducer } from '../../src/workers/intake-producer.ts';
import { QUEUES } from '../../src/workers/queues.ts';
import { createRedis } from '../../src/workers/redis.ts';
import { apiClient, seedOrganization, startTestApp, type TestApp } from '../support/app.ts';
import { query } from '../support/database.ts';
import { until } from '../support/until.ts';
import { startFakeSlack, type FakeSlack, type SlackCall } from '../support/fake-slack.ts';
import { startFakeTelegram, type FakeTelegram } from '../support/fake-telegram.ts';
import {
  FORM, blockAction, botMessage, eventCallback, messageShortcut, postToSlackApp, slackTs, slashCommand, threadReply, viewSubmission, type Team,
} from '../support/slack-payloads.ts';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts';
import { person, photoUpdate, textUpdate } from '../support/telegram-updates.ts';

/*
 * The Slack channel with the real Bolt app (mounted in our Koa server) and the real Web API client against a
 * fake Web API server: tickets appear in a triage channel, their conversation in the thread, and agents
 * answer reporters on email and Telegram from the thread.
 */

let slack: FakeSlack;
let tg: FakeTelegram;
let smtp: SmtpSink;
let app: TestApp;
let seed: Awaited<ReturnType<typeof seedOrganization>>;
let producer: IntakeProducer;
let events: QueueEvents;
let tgToken: string;
/** A server that is not Slack: payloads that name it must never make the app call it. */
let elsewhere: { url: string; hits: string[]; close(): Promise<void> };
const TRIAGE = 'C0TRIAGE';
const HARDWARE = 'C0HARDWARE';
const team: Team = { teamId: 'T0HELPDESK', secret: 'a1b2c3d4e5f60718293a4b5c6d7e8f90' };
const BOT_USER = 'U0HELPBOT';
const AGENT = 'U0AGENT';
const OUTSIDER = 'U0OUTSIDER';
const COLLEAGUE = 'U0COLLEAGUE';
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

beforeAll(async () => {
  [slack, tg, smtp] = await Promise.all([startFakeSlack(), startFakeTelegram(), startSmtpSink()]);
  elsewhere = await startElsewhere();
  app = await startTestApp({
    env: {
      SLACK_API_URL: slack.url, SLACK_CHANNEL_INTERVAL_MS: '20', SLACK_SYNC_POLL_MS: '100', TELEGRAM_API_ROOT: tg.url,
      APP_SECRET: 'test-secret-test-secret', PUBLIC_URL: 'https://help.example.org', JOB_BACKOFF_MS: '100', JOB_BACKOFF_MAX_MS: '500',
      JOB_ATTEMPTS: '4', TELEGRAM_JOIN_WINDOW_MS: '0',
    },
    workerOptions: { email: { refreshMs: 300 }, telegram: { refreshMs: 300, pollTimeoutSeconds: 1 } },
  });
  seed = await seedOrganization(app, 'Slack Org');
  const box = new SecretBox(app.rt.secret);
  const token = slack.addWorkspace(team.teamId, BOT_USER);
  await connectWorkspace(new SlackStore(app.rt.orm, box), slack.url, {
    organizationId: seed.org.id, botToken: token, signingSecret: team.secret, triageChannel: TRIAGE, noteMarkers: ['note:', '//'],
  });
  slack.addUser({ id: AGENT, name: 'Alex Agent', email: seed.agent.email.toUpperCase() });
  slack.addUser({ id: OUTSIDER, name: 'Olga Outsider', email: 'olga@elsewhere.test' });
  slack.addUser({ id: COLLEAGUE, name: 'Carl Colleague', email: 'carl@customer.test' });
  await new Mailboxes(app.rt.orm, box).add({ organizationId: seed.org.id, address: 'support@slack-org.test', imapUrl: 'imap://u:p@127.0.0.1:1', smtpUrl: smtp.url, plusAddressing: false });
  tgToken = tg.addBot(778001, 'slack_org_bot');
  await new TelegramStore(app.rt.orm, box).addBot({ organizationId: seed.org.id, botId: '778001', username: 'slack_org_bot', token: tgToken, mode: 'polling' });
  const redis = createRedis(app.rt.redisUrl, 'blocking', 'test-slack-events');
  events = new QueueEvents(QUEUES.intake, { connection: redis, prefix: app.config.queuePrefix });
  await events.waitUntilReady();
  producer = new IntakeProducer(app.rt.intakeQueue, events, app.config);
}, 60_000);

afterAll(async () => {
  await events?.close();
  await app?.stop();
  await Promise.all([slack?.close(), tg?.close(), smtp?.close(), elsewhere?.close()]);
});

async function startElsewhere(): Promise<typeof elsewhere> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end('internal secrets');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** What the worker made of a Slack request (its job's return value), once it has been handled. */
function handled(kind: SlackInboundJob['kind'], key: string, teamId = team.teamId): Promise<string> {
  return until(async () => {
    const job = await app.rt.slackInboundQueue.getJob(inboundJobId(kind, `${teamId}:${key}`));
    return job && (await job.isCompleted()) ? String(job.returnvalue) : undefined;
  }, `the ${kind} job ${key}`);
}

const sql = <T = Record<string, any>>(text: string, params: unknown[] = []) => query<T & Record<string, any>>(app.db.url, text, params);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


let mailCount = 0;
/** A ticket from an email reporter, as the mail channel hands it to intake. */
async function mailTicket(subject: string, text: string, from = `reporter${++mailCount}@customer.test`) {
  const r = await producer.submitAndWait({
    organizationId: seed.org.id, channel: 'email', externalId: `<${Date.now()}.${mailCount}@customer.test>`,
    sender: { kind: 'email', address: from, name: `Reporter ${mailCount}` }, subject, text, receivedAt: new Date().toISOString(),
  }, 10_000);
  if (r.state !== 'committed') throw new Error(`intake: ${JSON.stringify(r)}`);
  return { number: r.outcome.ticketNumber, id: r.outcome.ticketId, email: from };
}

/** The message of this organization's ticket (other organizations in this file count their tickets from #1001 too). */
const parentPost = (number: number) => (c: SlackCall) => c.method === 'chat.postMessage' && !c.params.failedWith && !c.params.thread_ts
  && [TRIAGE, HARDWARE].includes(c.params.channel) && String(c.params.text).startsWith(`#${number} `);
/** The ticket's message in Slack, once posted. */
async function parentOf(number: number): Promise<{ channel: string; ts: string }> {
  await slack.waitForCall(parentPost(number));
  return until(async () => (await sql<{ channel: string; ts: string }>(
    `SELECT s.channel_id AS channel, s.ts FROM slack_threads s JOIN tickets t ON t.id = s.ticket_id WHERE t.organization_id = $1 AND t.number = $2`,
    [seed.org.id, number]))[0], `the thread of #${number}`);
}

const send = (body: string, type = 'application/json', opts = {}) => postToSlackApp(app.baseUrl, team, body, type, opts);
async function replyInThread(thread: { channel: string; ts: string }, user: string, text: string, files?: unknown[]) {
  const event = threadReply({ channel: thread.channel, user, text, threadTs: thread.ts, files, team: team.teamId });
  slack.userMessage(team.teamId, thread.channel, event.ts as string, text);
  const cb = eventCallback(team, event);
  const res = await send(cb.body);
  expect(res.status).toBe(200);
  return { ts: event.ts as string, body: cb.body, eventId: cb.eventId };
}
const messageFromSlack = (ts: string) => until(async () => (await sql(
  `SELECT m.id, m.body, m.visibility, m.author_user_id, m.ticket_id FROM messages m WHERE m.metadata->'slackThread'->>'ts' = $1`, [ts]))[0], `the message of ${ts}`);

describe('the triage channel', () => {
  it('a new ticket posts one message with its fields and buttons, and its first message in the thread', async () => {
    const t = await mailTicket('Printer on 3rd floor jams', 'It jams on every page <b>since</b> Monday & smells of toner.');
    const thread = await parentOf(t.number);
    expect(thread.channel).toBe(TRIAGE);
    const post = slack.calls.find(parentPost(t.number))!;
    const blocks = JSON.stringify(post.params.blocks);
    expect(blocks).toContain('Printer on 3rd floor jams');
    expect(blocks).toContain(`Reporter ${mailCount}`);
    expect(blocks).toContain('via email');
    expect(blocks).toContain('https://help.example.org/api/v1/tickets/');
    for (const action of ['ticket_take', 'ticket_priority', 'ticket_resolve', 'ticket_close']) expect(blocks).toContain(action);
    const first = await slack.waitForCall((c) => c.method === 'chat.postMessage' && c.params.thread_ts === thread.ts);
    // What the reporter wrote is escaped for Slack's markup.
    expect(first.params.text).toContain('It jams on every page &lt;b&gt;since&lt;/b&gt; Monday &amp; smells of toner.');
    await sleep(400);
    expect(slack.calls.filter(parentPost(t.number))).toHaveLength(1);
  });

  it('tickets that come at once appear in the channel in the order they came', async () => {
    const org = await seedOrganization(app, 'Burst Org');
    await connectWorkspace(new SlackStore(app.rt.orm, new SecretBox(app.rt.secret)), slack.url, {
      organizationId: org.org.id, botToken: slack.addWorkspace('T0BURST', 'U0BURSTBOT'), signingSecret: 'b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0', triageChannel: 'C0BURST', noteMarkers: ['note:'],
    });
    const api = apiClient(app.baseUrl, org.agent.key);
    const made = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => api.post('/tickets', { subject: `Burst ticket ${i}`, reporter: { email: `burst${i}@customer.test` } })));
    const numbers = made.map((r) => r.body.number as number).sort((x, y) => x - y);
    const cards = () => slack.calls.filter((c) => c.method === 'chat.postMessage' && c.params.channel === 'C0BURST' && !c.params.thread_ts && !c.params.failedWith);
    await until(async () => cards().length >= numbers.length, 'the six messages', 30_000);
    expect(cards().map((c) => Number(/^#(\d+) /.exec(String(c.params.text))![1]))).toEqual(numbers);
  });

  it('a category with a route of its own goes to its channel', async () => {
    const [cat] = await sql(`INSERT INTO categories (id, organization_id, name) VALUES (gen_random_uuid(), $1, 'Hardware') RETURNING id`, [seed.org.id]);
    await new SlackStore(app.rt.orm, new SecretBox(app.rt.secret)).setRoute(seed.org.id, { categoryId: cat!.id }, HARDWARE);
    const api = apiClient(app.baseUrl, seed.agent.key);
    const res = await api.post('/tickets', { subject: 'Broken monitor', description: 'Flickers', category: cat!.id });
    expect(res.status).toBe(201);
    expect((await parentOf(res.body.number)).channel).toBe(HARDWARE);
  });

  it("a ticket whose message was deleted in Slack gets a new one at its next change", async () => {
    const t = await mailTicket('Deleted card', 'someone deleted it');
    const thread = await parentOf(t.number);
    slack.deleteMessage(team.teamId, thread.channel, thread.ts);
    expect((await apiClient(app.baseUrl, seed.agent.key).patch(`/tickets/${t.number}`, { priority: 'high' })).status).toBe(200);
    await slack.waitForCall((c) => c.method === 'chat.update' && c.params.ts === thread.ts);
    const again = await until(async () => (await sql(`SELECT ts FROM slack_threads WHERE ticket_id = $1 AND ts <> $2`, [t.id, thread.ts]))[0], 'the new message');
    expect(slack.calls.filter(parentPost(t.number)).length).toBe(2);
    const repost = slack.calls.filter(parentPost(t.number))[1]!;
    expect(repost.params.text).toContain('High');
    expect(again.ts).not.toBe(thread.ts);
  });

  it('a 429 is honoured: the post waits as long as Retry-After says, then goes out once', async () => {
    slack.failNext('chat.postMessage', { status: 429, retryAfter: 1 }, 1, (p) => String(p.text).includes('Rate limited'));
    const t = await mailTicket('Rate limited', 'Slack is busy');
    const limited = await slack.waitForCall((c) => c.method === 'chat.postMessage' && Boolean(c.params.failedWith));
    const post = await slack.waitForCall(parentPost(t.number));
    expect(post.at - limited.at).toBeGreaterThanOrEqual(950);
    await sleep(300);
    expect(slack.calls.filter(parentPost(t.number))).toHaveLength(1);
  });

  it('a post Slack refuses for good is recorded on the ticket', async () => {
    slack.failNext('chat.postMessage', { error: 'not_in_channel' }, 1, (p) => String(p.text).includes(' Refused '));
    const t = await mailTicket('Refused', 'The app is not in the channel');
    const event = await until(async () => (await sql(`SELECT changes FROM ticket_events WHERE ticket_id = $1 AND kind = 'slack_post_failed'`, [t.id]))[0], 'the failure event');
    expect(event.changes.reason).toContain('not_in_channel');
    expect(event.changes.reason).toContain('/invite');
  });
});

describe('the thread', () => {
  it('a reporter message (with its photo) lands in the thread', async () => {
    const anna = person(9101, 'Anna');
    const u = textUpdate(anna, 'The coffee machine leaks');
    tg.pushUpdate(tgToken, u);
    const t = await until(async () => (await sql(`SELECT t.number, t.id FROM tickets t WHERE t.description = 'The coffee machine leaks'`))[0], 'the Telegram ticket');
    const thread = await parentOf(t.number);
    const photo = photoUpdate(anna, tg.addFile(PNG, 'photos/leak.png'), { caption: 'Here is the puddle', reply_to_message: { message_id: u.message.message_id, from: { is_bot: false } } });
    tg.pushUpdate(tgToken, photo);
    const text = await slack.waitForCall((c) => c.method === 'chat.postMessage' && c.params.thread_ts === thread.ts && String(c.params.text).includes('Here is the puddle'));
    expect(text.params.text).toContain('Anna');
    const upload = await until(async () => slack.uploads.find((u2) => u2.threadTs === thread.ts), 'the photo in the thread');
    expect(upload.content.toString('base64')).toBe(PNG.toString('base64'));
    expect(upload.channel).toBe(TRIAGE);
  });

  it("an agent's thread reply reaches an email reporter, under the agent's name, with the file, and shows it was delivered", async () => {
    const t = await mailTicket('VPN down', 'Cannot connect since 9:00');
    const thread = await parentOf(t.number);
    const file = slack.addFile(Buffer.from('%PDF-1.4 vpn guide'), 'VPN guide.pdf', 'application/pdf');
    const reply = await replyInThread(thread, AGENT, 'Please reinstall the client: <https://vpn.example.org/client|download page> &amp; restart. <@U0COLLEAGUE> knows it :+1:', [file]);
    const mail = await smtp.waitFor((m) => m.envelopeTo.includes(t.email) && (m.parsed.text ?? '').includes('reinstall the client'));
    // Slack's markup reads as text: the link with its address, the mention by name, the emoji as an emoji.
    expect(mail.parsed.text).toContain('download page (https://vpn.example.org/client) & restart. @Carl Colleague knows it 👍');
    expect(mail.parsed.text).toContain(`agent ${seed.agent.email}`);
    expect(mail.parsed.attachments.map((a) => a.filename)).toContain('VPN guide.pdf');
    const m = await messageFromSlack(reply.ts);
    expect(m).toMatchObject({ visibility: 'public', author_user_id: seed.agent.id });
    await slack.waitForCall((c) => c.method === 'reactions.add' && c.params.timestamp === reply.ts && c.params.name === 'white_check_mark');
    // The reply came from the thread: it is not posted back into it.
    await sleep(500);
    expect(slack.calls.some((c) => c.method === 'chat.postMessage' && c.params.thread_ts === thread.ts && String(c.params.text).includes('reinstall the client'))).toBe(false);
  });

  it('a file Slack will not let the app download is named in the reply, not stored as a sign-in page', async () => {
    const t = await mailTicket('Hidden file', 'x');
    const thread = await parentOf(t.number);
    const hidden = slack.addFile(Buffer.from('secret'), 'report.xlsx', 'application/vnd.ms-excel', { hidden: true });
    const reply = await replyInThread(thread, AGENT, 'See the report', [hidden]);
    const m = await messageFromSlack(reply.ts);
    expect(m.body).toContain('See the report');
    expect(m.body).toContain('"report.xlsx" could not be taken from Slack');
    expect((await sql(`SELECT count(*)::int AS n FROM attachments WHERE message_id = $1`, [m.id]))[0]!.n).toBe(0);
  });

  it("files are fetched from Slack only: another host is never called, a deleted file is named, one Slack left unfinished is asked for", async () => {
    const t = await mailTicket('File addresses', 'x');
    const thread = await parentOf(t.number);
    // A signed payload is only as honest as whoever holds the secret: an address off Slack is not fetched.
    const foreign = { id: 'F0FOREIGN', name: 'metadata.txt', mimetype: 'text/plain', size: 10, mode: 'hosted', url_private_download: `${elsewhere.url}/latest/meta-data`, url_private: `${elsewhere.url}/latest/meta-data` };
    const gone = { ...slack.addFile(Buffer.from('x'), 'deleted.txt', 'text/plain', { status: 404 }) };
    // Slack Connect files and files still processing come without addresses: files.info has them.
    const listed = slack.addFile(PNG, 'later.png', 'image/png');
    const unfinished = { id: listed.id, name: 'later.png', mimetype: 'image/png', file_access: 'check_file_info' };
    const reply = await replyInThread(thread, AGENT, 'three files', [foreign, gone, unfinished]);
    const m = await messageFromSlack(reply.ts);
    expect(m.body).toContain('"metadata.txt" could not be taken from Slack');
    expect(m.body).toContain('"deleted.txt" could not be taken from Slack');
    expect((await sql(`SELECT filename FROM attachments WHERE message_id = $1`, [m.id])).map((f) => f.filename)).toEqual(['later.png']);
    expect(slack.calls.some((c) => c.method === 'files.info' && c.params.file === listed.id)).toBe(true);
    expect(elsewhere.hits).toEqual([]);
  });

  it("replies in one thread reach the reporter in the order they were written, even when the first waits for its file", async () => {
    const t = await mailTicket('Order', 'two answers');
    const thread = await parentOf(t.number);
    const slow = slack.addFile(Buffer.from('%PDF-1.4 slow'), 'slow.pdf', 'application/pdf', { delayMs: 1500 });
    const first = await replyInThread(thread, AGENT, 'First: the manual is attached.', [slow]);
    const second = await replyInThread(thread, AGENT, 'Second: and call us if it does not help.');
    const [a, b] = [await messageFromSlack(first.ts), await messageFromSlack(second.ts)];
    const order = await sql(`SELECT id FROM messages WHERE id = ANY($1::uuid[]) ORDER BY created_at, id`, [[a.id, b.id]]);
    expect(order.map((r) => r.id)).toEqual([a.id, b.id]);
    await smtp.waitFor((mm) => (mm.parsed.text ?? '').includes('Second: and call us'));
    const mails = smtp.mails.filter((mm) => mm.envelopeTo.includes(t.email) && /First: the manual|Second: and call us/.test(mm.parsed.text ?? ''));
    expect(mails.map((mm) => (mm.parsed.text ?? '').includes('First') ? 'first' : 'second')).toEqual(['first', 'second']);
  });

  it('a reply that cannot be taken after every retry is explained to its author, not lost in silence', async () => {
    const t = await mailTicket('Broken download', 'x');
    const thread = await parentOf(t.number);
    const broken = slack.addFile(Buffer.from('x'), 'log.txt', 'text/plain', { status: 503 });
    const reply = await replyInThread(thread, AGENT, 'Here is the log', [broken]);
    const told = await slack.waitForCall((c) => c.method === 'chat.postEphemeral' && c.params.user === AGENT && String(c.params.text).includes('could not be taken'), 20_000);
    expect(told.params).toMatchObject({ channel: thread.channel, thread_ts: thread.ts });
    expect(told.params.text).toContain('nothing was sent to the reporter');
    expect((await sql(`SELECT count(*)::int AS n FROM messages WHERE metadata->'slackThread'->>'ts' = $1`, [reply.ts]))[0]!.n).toBe(0);
  });

  it('a file Slack will not take is named in the thread, and the thread goes on', async () => {
    const t = await mailTicket('Uploads off', 'x');
    const thread = await parentOf(t.number);
    const storage = new LocalDiskStorage(path.join(app.dataDir, 'attachments'));
    const photo = await storage.put(Readable.from([PNG]), { filename: 'meter.png', declaredType: 'image/png', maxBytes: 1_000_000 });
    slack.failNext('files.getUploadURLExternal', { error: 'file_uploads_disabled' });
    const api = apiClient(app.baseUrl, seed.agent.key);
    const r = await producer.submitAndWait({
      organizationId: seed.org.id, channel: 'email', externalId: `<meter.${Date.now()}@customer.test>`, sender: { kind: 'email', address: t.email },
      ticketNumber: t.number, text: 'Photo of the meter', attachments: [photo], receivedAt: new Date().toISOString(),
    }, 10_000);
    expect(r.state).toBe('committed');
    const line = await slack.waitForCall((c) => c.method === 'chat.postMessage' && c.params.thread_ts === thread.ts && String(c.params.text).includes('"meter.png" could not be posted here'));
    expect(line.params.text).toContain('file_uploads_disabled');
    expect((await api.post(`/tickets/${t.number}/comments`, { body: 'note after the photo', internal: true })).status).toBe(201);
    await slack.waitForCall((c) => c.method === 'chat.postMessage' && c.params.thread_ts === thread.ts && String(c.params.text).includes('note after the photo'));
    expect((await sql(`SELECT count(*)::int AS n FROM ticket_events WHERE ticket_id = $1 AND kind = 'slack_post_failed'`, [t.id]))[0]!.n).toBe(0);
  });

  it('a reply that cannot be delivered is marked in the thread with the reason', async () => {
    const t = await mailTicket('Bouncing', 'My mailbox is full', 'gone@customer.test');
    const thread = await parentOf(t.number);
    await smtp.waitFor((m) => m.envelopeTo.includes(t.email));
    smtp.refuse.add(t.email);
    const reply = await replyInThread(thread, AGENT, 'We freed some space for you.');
    await slack.waitForCall((c) => c.method === 'reactions.add' && c.params.timestamp === reply.ts && c.params.name === 'warning');
    const line = await slack.waitForCall((c) => c.method === 'chat.postMessage' && c.params.thread_ts === thread.ts && String(c.params.text).includes('Not delivered'));
    expect(line.params.text).toMatch(/550|refused|undeliverable|rejected/i);
  });

  it("an agent's thread reply reaches a Telegram reporter in their chat", async () => {
    const ben = person(9102, 'Ben');
    tg.pushUpdate(tgToken, textUpdate(ben, 'Badge reader at the door is dead'));
    const t = await until(async () => (await sql(`SELECT number FROM tickets WHERE description = 'Badge reader at the door is dead'`))[0], 'the Telegram ticket');
    const thread = await parentOf(t.number);
    const reply = await replyInThread(thread, AGENT, 'A technician is on the way.');
    const sent = await tg.waitForCall((c) => c.method === 'sendMessage' && Number(c.params.chat_id) === ben.id && String(c.params.text).includes('A technician is on the way.'));
    expect(sent.params.text).toContain(`agent ${seed.agent.email}`);
    await slack.waitForCall((c) => c.method === 'reactions.add' && c.params.timestamp === reply.ts && c.params.name === 'white_check_mark');
  });

  it('a note: reply is an internal note and does not leave', async () => {
    const t = await mailTicket('Slow laptop', 'Very slow');
    const thread = await parentOf(t.number);
    await smtp.waitFor((m) => m.envelopeTo.includes(t.email));
    const before = smtp.mails.filter((m) => m.envelopeTo.includes(t.email)).length;
    const reply = await replyInThread(thread, AGENT, 'note: probably the disk, check SMART');
    const m = await messageFromSlack(reply.ts);
    expect(m).toMatchObject({ visibility: 'internal', body: 'probably the disk, check SMART' });
    await slack.waitForCall((c) => c.method === 'reactions.add' && c.params.timestamp === reply.ts && c.params.name === 'lock');
    const slashes = await replyInThread(thread, AGENT, '// and the RAM');
    expect(await messageFromSlack(slashes.ts)).toMatchObject({ visibility: 'internal', body: 'and the RAM' });
    await sleep(800);
    expect(smtp.mails.filter((mm) => mm.envelopeTo.includes(t.email)).length).toBe(before);
    expect((await sql(`SELECT count(*)::int AS n FROM notifications WHERE payload->>'messageId' = $1`, [m.id]))[0]!.n).toBe(0);
  });

  it('a Slack user who is not an agent gets an ephemeral message and speaks for nobody', async () => {
    const t = await mailTicket('Outsider', 'Someone else replies');
    const thread = await parentOf(t.number);
    const reply = await replyInThread(thread, OUTSIDER, 'I am not staff');
    const eph = await slack.waitForCall((c) => c.method === 'chat.postEphemeral' && c.params.user === OUTSIDER);
    expect(eph.params.text).toContain('olga@elsewhere.test');
    expect(eph.params.text).toContain('not an agent');
    await sleep(300);
    expect((await sql(`SELECT count(*)::int AS n FROM messages WHERE metadata->'slackThread'->>'ts' = $1`, [reply.ts]))[0]!.n).toBe(0);
    // Someone users.info does not know (user_not_found) is told the same way, rather than failing the job.
    const unknown = await replyInThread(thread, 'U0NOBODY', 'Who am I?');
    const told = await slack.waitForCall((c) => c.method === 'chat.postEphemeral' && c.params.user === 'U0NOBODY');
    expect(told.params.text).toContain('Only full members');
    expect((await sql(`SELECT count(*)::int AS n FROM messages WHERE metadata->'slackThread'->>'ts' = $1`, [unknown.ts]))[0]!.n).toBe(0);
  });

  it('a guest or a Slack Connect stranger with an agent\'s email does not speak for the helpdesk', async () => {
    slack.addUser({ id: 'U0STRANGER', name: 'Mallory', email: seed.agent.email, teamId: 'T0ELSEWHERE', stranger: true });
    const t = await mailTicket('Stranger', 'Slack Connect');
    const thread = await parentOf(t.number);
    const reply = await replyInThread(thread, 'U0STRANGER', 'I claim to be your agent');
    const eph = await slack.waitForCall((c) => c.method === 'chat.postEphemeral' && c.params.user === 'U0STRANGER');
    expect(eph.params.text).toContain('Only full members');
    await sleep(300);
    expect((await sql(`SELECT count(*)::int AS n FROM messages WHERE metadata->'slackThread'->>'ts' = $1`, [reply.ts]))[0]!.n).toBe(0);
  });

  it('a reply deleted in Slack before its outcome is shown is delivered, and fails no job', async () => {
    const t = await mailTicket('Deleted reply', 'please answer');
    const thread = await parentOf(t.number);
    const reply = await replyInThread(thread, AGENT, 'Answer that the agent deletes at once.');
    slack.deleteMessage(team.teamId, thread.channel, reply.ts);
    await smtp.waitFor((m) => m.envelopeTo.includes(t.email) && (m.parsed.text ?? '').includes('Answer that the agent deletes'));
    await slack.waitForCall((c) => c.method === 'reactions.add' && c.params.timestamp === reply.ts);
    await sleep(300);
    const failed = await app.rt.slackOutboundQueue.getFailed();
    expect(failed.filter((j) => j.data.kind === 'outcome').map((j) => j.failedReason)).toEqual([]);
  });

  it('a retried event and the same event_id twice make one message', async () => {
    const t = await mailTicket('Retries', 'Slack retries');
    const thread = await parentOf(t.number);
    const reply = await replyInThread(thread, AGENT, 'Only once, please.');
    const again = await send(reply.body, 'application/json', { retryNum: 1 });
    expect(again.status).toBe(200);
    // The same message under another event id (Slack can deliver an event twice) is still one message.
    const event = JSON.parse(reply.body);
    const other = await send(JSON.stringify({ ...event, event_id: 'EvOTHER1' }));
    expect(other.status).toBe(200);
    await messageFromSlack(reply.ts);
    await sleep(800);
    expect((await sql(`SELECT count(*)::int AS n FROM messages WHERE metadata->'slackThread'->>'ts' = $1`, [reply.ts]))[0]!.n).toBe(1);
    expect(smtp.mails.filter((m) => (m.parsed.text ?? '').includes('Only once, please.'))).toHaveLength(1);
  });

  it("the bot's own message, other bots and edits are ignored", async () => {
    const t = await mailTicket('Loops', 'No loops');
    const thread = await parentOf(t.number);
    const own = botMessage({ channel: thread.channel, botUserId: BOT_USER, text: 'from the bot', threadTs: thread.ts });
    const asUser = { ...threadReply({ channel: thread.channel, user: BOT_USER, text: 'bot as user', threadTs: thread.ts, team: team.teamId }) };
    const otherBot = { ...botMessage({ channel: thread.channel, botUserId: 'U0OTHERBOT', text: 'another bot', threadTs: thread.ts }), bot_id: 'B0OTHER', app_id: 'A0OTHER' };
    const edit = { type: 'message', subtype: 'message_changed', channel: thread.channel, hidden: true, ts: slackTs(),
      message: { type: 'message', text: 'edited', user: AGENT, ts: slackTs(), thread_ts: thread.ts }, previous_message: { type: 'message', text: 'before', user: AGENT, thread_ts: thread.ts } };
    const ids: string[] = [];
    for (const event of [own, asUser, otherBot, edit]) {
      const cb = eventCallback(team, event);
      expect((await send(cb.body)).status).toBe(200);
      ids.push(cb.eventId);
    }
    // A person's reply sent after them is taken: by then, any of them that had been queued would have been too.
    const reply = await replyInThread(thread, AGENT, 'note: after the bots');
    await messageFromSlack(reply.ts);
    for (const id of ids) expect(await app.rt.slackInboundQueue.getJob(inboundJobId('message', `${team.teamId}:${id}`))).toBeUndefined();
    expect((await sql(`SELECT count(*)::int AS n FROM messages WHERE ticket_id = $1`, [t.id]))[0]!.n).toBe(2);
  });
});

describe('buttons, commands, modal and shortcut', () => {
  it('Take assigns the ticket to the agent and updates the message in place', async () => {
    const t = await mailTicket('Take me', 'Who takes it?');
    const thread = await parentOf(t.number);
    const res = await send(blockAction(team, { user: AGENT, channel: thread.channel, messageTs: thread.ts, actionId: 'ticket_take', number: t.number, responseUrl: `${slack.base}/response/take` }), FORM);
    expect(res.status).toBe(200);
    const row = await until(async () => (await sql(`SELECT assignee_id, status FROM tickets WHERE id = $1 AND assignee_id IS NOT NULL`, [t.id]))[0], 'the assignment');
    expect(row).toMatchObject({ assignee_id: seed.agent.id, status: 'open' });
    const update = await slack.waitForCall((c) => c.method === 'chat.update' && c.params.ts === thread.ts && JSON.stringify(c.params.blocks).includes(`agent ${seed.agent.email}`));
    expect(JSON.stringify(update.params.blocks)).not.toContain('ticket_take');
    const [event] = await sql(`SELECT channel, actor_user_id FROM ticket_events WHERE ticket_id = $1 AND kind = 'status_changed'`, [t.id]);
    expect(event).toMatchObject({ channel: 'slack', actor_user_id: seed.agent.id });
  });

  it("Take does not take a ticket away from the agent who has it: the second agent is told who has it", async () => {
    slack.addUser({ id: 'U0ADMIN', name: 'Ada Admin', email: seed.admin.email });
    const t = await mailTicket('Taken twice', 'Two agents want it');
    const thread = await parentOf(t.number);
    const take = (user: string, path: string) => send(blockAction(team, { user, channel: thread.channel, messageTs: thread.ts, actionId: 'ticket_take', number: t.number, responseUrl: `${slack.base}/response/${path}` }), FORM);
    expect((await take(AGENT, 'take-first')).status).toBe(200);
    await until(async () => (await sql(`SELECT 1 FROM tickets WHERE id = $1 AND assignee_id = $2`, [t.id, seed.agent.id]))[0], 'the first take');
    expect((await take('U0ADMIN', 'take-second')).status).toBe(200);
    const told = await slack.waitForCall((c) => c.method === 'response_url' && c.params.path === '/response/take-second');
    expect(told.params.text).toContain(`already taken by agent ${seed.agent.email}`);
    expect((await sql(`SELECT assignee_id FROM tickets WHERE id = $1`, [t.id]))[0]!.assignee_id).toBe(seed.agent.id);
    // The one who has it may press it again: nothing changes, nobody is told off.
    expect((await take(AGENT, 'take-again')).status).toBe(200);
    await sleep(300);
    expect(slack.calls.some((c) => c.method === 'response_url' && c.params.path === '/response/take-again')).toBe(false);
  });

  it('a response_url that is not Slack\'s is never called; the answer comes as an ephemeral message', async () => {
    const res = await send(slashCommand(team, { user: AGENT, channel: TRIAGE, text: '999999', responseUrl: `${elsewhere.url}/steal` }), FORM);
    expect(res.status).toBe(200);
    const eph = await slack.waitForCall((c) => c.method === 'chat.postEphemeral' && c.params.user === AGENT && String(c.params.text).includes('#999999 does not exist'));
    expect(eph.params.channel).toBe(TRIAGE);
    expect(elsewhere.hits).toEqual([]);
  });

  it('/ticket new says so when Slack will not open the form', async () => {
    slack.failNext('views.open', { error: 'expired_trigger_id' });
    const res = await send(slashCommand(team, { user: AGENT, channel: TRIAGE, text: 'new', responseUrl: `${slack.base}/response/no-form` }), FORM);
    expect(res.status).toBe(200);
    const told = await slack.waitForCall((c) => c.method === 'response_url' && c.params.path === '/response/no-form');
    expect(told.params.text).toContain('The form could not be opened (expired_trigger_id)');
    // Someone who is not an agent is told so before filling in anything.
    const opens = slack.calls.filter((c) => c.method === 'views.open').length;
    expect((await send(slashCommand(team, { user: OUTSIDER, channel: TRIAGE, text: 'new', responseUrl: `${slack.base}/response/no-agent-form` }), FORM)).status).toBe(200);
    const refused = await slack.waitForCall((c) => c.method === 'response_url' && c.params.path === '/response/no-agent-form');
    expect(refused.params.text).toContain('not an agent');
    expect(slack.calls.filter((c) => c.method === 'views.open').length).toBe(opens);
  });

  it('a reply that is only a note marker is explained, not silently dropped', async () => {
    const t = await mailTicket('Empty note', 'x');
    const thread = await parentOf(t.number);
    const reply = await replyInThread(thread, AGENT, 'note:');
    const told = await slack.waitForCall((c) => c.method === 'chat.postEphemeral' && c.params.user === AGENT && String(c.params.text).includes('no text after "note:"'));
    expect(told.params.thread_ts).toBe(thread.ts);
    expect((await sql(`SELECT count(*)::int AS n FROM messages WHERE metadata->'slackThread'->>'ts' = $1`, [reply.ts]))[0]!.n).toBe(0);
  });

  it('a priority that is not one of the menu\'s is refused, and the ticket keeps its own', async () => {
    const t = await mailTicket('Forged priority', 'x');
    const thread = await parentOf(t.number);
    await send(blockAction(team, { user: AGENT, channel: thread.channel, messageTs: thread.ts, actionId: 'ticket_priority', number: t.number, selected: 'critical', responseUrl: `${slack.base}/response/forged-priority` }), FORM);
    const told = await slack.waitForCall((c) => c.method === 'response_url' && c.params.path === '/response/forged-priority');
    expect(told.params.text).toContain('The priority must be one of low, normal, high, urgent');
    expect((await sql(`SELECT priority FROM tickets WHERE id = $1`, [t.id]))[0]!.priority).toBe('normal');
  });

  it('Priority and Resolve change the ticket; a change made through the API updates the message too', async () => {
    const t = await mailTicket('Priority', 'Needs triage');
    const thread = await parentOf(t.number);
    await send(blockAction(team, { user: AGENT, channel: thread.channel, messageTs: thread.ts, actionId: 'ticket_priority', number: t.number, selected: 'urgent', responseUrl: `${slack.base}/response/p` }), FORM);
    await until(async () => (await sql(`SELECT 1 FROM tickets WHERE id = $1 AND priority = 'urgent'`, [t.id]))[0], 'urgent');
    await slack.waitForCall((c) => c.method === 'chat.update' && c.params.ts === thread.ts && String(c.params.text).includes('Urgent'));
    await send(blockAction(team, { user: AGENT, channel: thread.channel, messageTs: thread.ts, actionId: 'ticket_resolve', number: t.number, responseUrl: `${slack.base}/response/r` }), FORM);
    await until(async () => (await sql(`SELECT 1 FROM tickets WHERE id = $1 AND status = 'resolved'`, [t.id]))[0], 'resolved');
    // The reporter is told by mail; the change came from Slack.
    await smtp.waitFor((m) => m.envelopeTo.includes(t.email) && /resolved/i.test(m.parsed.text ?? ''));
    const api = apiClient(app.baseUrl, seed.agent.key);
    expect((await api.patch(`/tickets/${t.number}`, { status: 'closed' })).status).toBe(200);
    await slack.waitForCall((c) => c.method === 'chat.update' && c.params.ts === thread.ts && String(c.params.text).includes('Closed'));
  });

  it('a refused change is explained to the person who clicked, ephemerally', async () => {
    const t = await mailTicket('Closed already', 'x');
    const thread = await parentOf(t.number);
    await apiClient(app.baseUrl, seed.agent.key).patch(`/tickets/${t.number}`, { status: 'closed' });
    await send(blockAction(team, { user: AGENT, channel: thread.channel, messageTs: thread.ts, actionId: 'ticket_resolve', number: t.number, responseUrl: `${slack.base}/response/refused` }), FORM);
    const answer = await slack.waitForCall((c) => c.method === 'response_url' && c.params.path === '/response/refused');
    expect(answer.params.response_type).toBe('ephemeral');
    expect(answer.params.text).toContain('cannot become resolved');
  });

  it('/ticket 1042 shows the ticket; /ticket new opens the modal; its submission creates a ticket for the reporter', async () => {
    const t = await mailTicket('Shown by command', 'details');
    const shownThread = await parentOf(t.number);
    const shown = await send(slashCommand(team, { user: AGENT, channel: TRIAGE, text: String(t.number), responseUrl: `${slack.base}/response/cmd` }), FORM);
    expect(shown.status).toBe(200);
    const answer = await slack.waitForCall((c) => c.method === 'response_url' && c.params.path === '/response/cmd');
    expect(answer.params.text).toContain(`#${t.number} Shown by command`);
    expect(JSON.stringify(answer.params.blocks)).toContain('ticket_take');
    // With a link to the ticket's thread, not only to its channel.
    expect(JSON.stringify(answer.params.blocks)).toContain(`/archives/${shownThread.channel}/p${shownThread.ts.replace('.', '')}|Open its thread`);

    const usage = await send(slashCommand(team, { user: AGENT, channel: TRIAGE, text: 'what?', responseUrl: `${slack.base}/response/usage` }), FORM);
    expect(JSON.parse(usage.text).text).toContain('Usage');

    const opened = await send(slashCommand(team, { user: AGENT, channel: TRIAGE, text: 'new Projector', responseUrl: `${slack.base}/response/new` }), FORM);
    expect(opened.status).toBe(200);
    const open = await slack.waitForCall((c) => c.method === 'views.open');
    expect(open.params.view.callback_id).toBe('ticket_new');

    const bad = await send(viewSubmission(team, { user: AGENT, viewId: 'V0BAD', values: { reporter: 'not-an-email', subject: '', description: 'x', priority: 'high' } }), FORM);
    expect(bad.status).toBe(200);
    expect(JSON.parse(bad.text)).toMatchObject({ response_action: 'errors', errors: { reporter: expect.any(String), subject: expect.any(String) } });

    const ok = await send(viewSubmission(team, { user: AGENT, viewId: 'V0GOOD', values: { reporter: 'dora@customer.test', reporter_name: 'Dora', subject: 'Projector in room 4', description: 'No picture', priority: 'high' } }), FORM);
    expect(ok.status).toBe(200);
    const created = await until(async () => (await sql(`SELECT number, priority, channel FROM tickets WHERE subject = 'Projector in room 4'`))[0], 'the modal ticket');
    expect(created).toMatchObject({ priority: 'high', channel: 'slack' });
    await smtp.waitFor((m) => m.envelopeTo.includes('dora@customer.test'));
    const thread = await parentOf(created.number);
    const first = await slack.waitForCall((c) => c.method === 'chat.postMessage' && c.params.thread_ts === thread.ts);
    expect(first.params.text).toContain(`agent ${seed.agent.email}* opened this ticket for the reporter`);
    expect(first.params.text).toContain('No picture');
  });

  it('the Create ticket shortcut turns a Slack message (with its file) into a ticket of its author', async () => {
    const file = slack.addFile(PNG, 'screenshot.png', 'image/png');
    const message = { type: 'message', user: COLLEAGUE, ts: slackTs(), text: 'Wiki is down again\nerror 502 on every page', files: [file] };
    const body = messageShortcut(team, { user: AGENT, channel: 'C0GENERAL', message, responseUrl: `${slack.base}/response/shortcut` });
    expect((await send(body, FORM)).status).toBe(200);
    expect((await send(body, FORM)).status).toBe(200);
    const answer = await slack.waitForCall((c) => c.method === 'response_url' && c.params.path === '/response/shortcut');
    expect(answer.params.text).toMatch(/created|already/);
    const t = await until(async () => (await sql(`SELECT id, number, subject, channel FROM tickets WHERE subject = 'Wiki is down again'`))[0], 'the shortcut ticket');
    const [reporter] = await sql(`SELECT i.address FROM reporter_identities i JOIN tickets t ON t.reporter_id = i.reporter_id WHERE t.id = $1`, [t.id]);
    expect(reporter!.address).toBe('carl@customer.test');
    expect((await sql(`SELECT filename FROM attachments WHERE ticket_id = $1`, [t.id])).map((f) => f.filename)).toEqual(['screenshot.png']);
    await sleep(500);
    expect((await sql(`SELECT count(*)::int AS n FROM tickets WHERE subject = 'Wiki is down again'`))[0]!.n).toBe(1);
  });

  it('a shortcut tried first by someone who is not an agent still works for an agent', async () => {
    const message = { type: 'message', user: COLLEAGUE, ts: slackTs(), text: 'Heating is off in room 12' };
    const first = messageShortcut(team, { user: OUTSIDER, channel: 'C0GENERAL', message, responseUrl: `${slack.base}/response/sc-outsider` });
    expect((await send(first, FORM)).status).toBe(200);
    expect((await slack.waitForCall((c) => c.method === 'response_url' && c.params.path === '/response/sc-outsider')).params.text).toContain('not an agent');
    const second = messageShortcut(team, { user: AGENT, channel: 'C0GENERAL', message, responseUrl: `${slack.base}/response/sc-agent` });
    expect((await send(second, FORM)).status).toBe(200);
    expect((await slack.waitForCall((c) => c.method === 'response_url' && c.params.path === '/response/sc-agent')).params.text).toContain('created');
    expect((await sql(`SELECT count(*)::int AS n FROM tickets WHERE subject = 'Heating is off in room 12'`))[0]!.n).toBe(1);
  });
});

describe('the ticket feed', () => {
  it('pages through tickets changed at the very same moment without repeating or skipping one', async () => {
    const ts = await Promise.all([1, 2, 3, 4, 5].map((i) => mailTicket(`Burst ${i}`, 'same moment')));
    await sql(`UPDATE tickets SET updated_at = '2001-01-01T00:00:00.123456Z' WHERE id = ANY($1::uuid[])`, [ts.map((t) => t.id)]);
    const store = new SlackStore(app.rt.orm, new SecretBox(app.rt.secret));
    const seen: string[] = [];
    let after: { at: string; id: string } | null = null;
    for (let pages = 0; pages < 100; pages++) {
      const page = await store.changedTickets(seed.org.id, '2000-12-31T23:59:59Z', after, 2);
      seen.push(...page.map((p) => p.id));
      if (page.length < 2) break;
      after = page.at(-1)!;
    }
    // Every changed ticket once; the five of that moment first, as they are the oldest.
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.slice(0, 5).sort()).toEqual(ts.map((t) => t.id).sort());
    expect(seen.length).toBe(Number((await sql(`SELECT count(*)::int AS n FROM tickets WHERE organization_id = $1`, [seed.org.id]))[0]!.n));
    await sql(`UPDATE tickets SET updated_at = now() WHERE id = ANY($1::uuid[])`, [ts.map((t) => t.id)]);
  });
});

describe('two organizations', () => {
  it("another workspace's requests never reach this organization's tickets", async () => {
    const other = await seedOrganization(app, 'Other Slack Org');
    const otherTeam: Team = { teamId: 'T0OTHER', secret: '0f1e2d3c4b5a69788796a5b4c3d2e1f0' };
    await connectWorkspace(new SlackStore(app.rt.orm, new SecretBox(app.rt.secret)), slack.url, {
      organizationId: other.org.id, botToken: slack.addWorkspace(otherTeam.teamId, 'U0OTHERBOT'), signingSecret: otherTeam.secret, triageChannel: 'C0OTHER', noteMarkers: ['note:'],
    });
    slack.addUser({ id: 'U0OTHERAGENT', name: 'Other Agent', email: other.agent.email });
    const t = await mailTicket('Private to Slack Org', 'secret');
    const thread = await parentOf(t.number);
    // An agent of the other organization replies in this organization's thread, signed by the other app.
    const event = threadReply({ channel: thread.channel, user: 'U0OTHERAGENT', text: 'cross-tenant reply', threadTs: thread.ts, team: otherTeam.teamId });
    const cross = eventCallback(otherTeam, event);
    expect((await postToSlackApp(app.baseUrl, otherTeam, cross.body, 'application/json')).status).toBe(200);
    // And asks for this organization's ticket by number.
    await postToSlackApp(app.baseUrl, otherTeam, slashCommand(otherTeam, { user: 'U0OTHERAGENT', channel: 'C0OTHER', text: String(t.number), responseUrl: `${slack.base}/response/other` }), FORM);
    const answer = await slack.waitForCall((c) => c.method === 'response_url' && c.params.path === '/response/other');
    expect(answer.params.text).toContain('does not exist');
    // The other workspace's thread of that channel and ts is no ticket of its organization.
    expect(await handled('message', cross.eventId, otherTeam.teamId)).toBe('not a ticket thread');
    expect((await sql(`SELECT count(*)::int AS n FROM messages WHERE body = 'cross-tenant reply'`))[0]!.n).toBe(0);
    // Buttons pressed in the other workspace with this organization's ticket number: the number means nothing
    // there (and, once that organization has a ticket of that number, means that one).
    const close = blockAction(otherTeam, { user: 'U0OTHERAGENT', channel: 'C0OTHER', messageTs: thread.ts, actionId: 'ticket_close', number: t.number, responseUrl: `${slack.base}/response/other-close` });
    expect((await postToSlackApp(app.baseUrl, otherTeam, close, FORM)).status).toBe(200);
    expect((await slack.waitForCall((c) => c.method === 'response_url' && c.params.path === '/response/other-close')).params.text).toContain('does not exist');
    expect((await sql(`SELECT status FROM tickets WHERE id = $1`, [t.id]))[0]!.status).not.toBe('closed');
  });
});

describe('reconnecting', () => {
  it('a workspace removed and connected again goes on in the same threads; a lost message is posted anew with the whole conversation', async () => {
    const org = await seedOrganization(app, 'Reconnect Org');
    const rTeam: Team = { teamId: 'T0RECONNECT', secret: '5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e' };
    const store = new SlackStore(app.rt.orm, new SecretBox(app.rt.secret));
    const token = slack.addWorkspace(rTeam.teamId, 'U0RBOT');
    const connect = () => connectWorkspace(store, slack.url, { organizationId: org.org.id, botToken: token, signingSecret: rTeam.secret, triageChannel: 'C0RECON', noteMarkers: ['note:'] });
    await connect();
    slack.addUser({ id: 'U0RAGENT', name: 'Rita Agent', email: org.agent.email, teamId: rTeam.teamId });
    const created = await apiClient(app.baseUrl, org.agent.key).post('/tickets', { subject: 'Door sensor', description: 'Beeps all night', reporter: { email: 'night@customer.test' } });
    const number = created.body.number as number;
    const thread = await until(async () => (await sql<{ channel: string; ts: string }>(
      `SELECT s.channel_id AS channel, s.ts FROM slack_threads s JOIN tickets t ON t.id = s.ticket_id WHERE t.organization_id = $1 AND t.number = $2`, [org.org.id, number]))[0], 'the thread');
    // The web process may not know a workspace connected a moment ago: Slack retries, and so does this.
    const reply = async (text: string) => {
      const event = threadReply({ channel: thread.channel, user: 'U0RAGENT', text, threadTs: thread.ts, team: rTeam.teamId });
      slack.userMessage(rTeam.teamId, thread.channel, event.ts as string, text);
      const body = eventCallback(rTeam, event).body;
      await until(async () => (await postToSlackApp(app.baseUrl, rTeam, body, 'application/json')).status === 200, 'the reply taken');
      return messageFromSlack(event.ts as string);
    };
    await reply('Replaced the battery.');
    expect(await store.remove(org.org.id)).toBe(true);
    await connect();
    expect(await reply('It should be quiet now.')).toMatchObject({ visibility: 'public' });

    slack.deleteMessage(rTeam.teamId, thread.channel, thread.ts);
    expect((await apiClient(app.baseUrl, org.agent.key).patch(`/tickets/${number}`, { priority: 'high' })).status).toBe(200);
    const again = await until(async () => (await sql<{ ts: string }>(`SELECT s.ts FROM slack_threads s JOIN tickets t ON t.id = s.ticket_id WHERE t.organization_id = $1 AND t.number = $2 AND s.ts <> $3`,
      [org.org.id, number, thread.ts]))[0], 'the new message');
    for (const text of ['Beeps all night', 'Replaced the battery.', 'It should be quiet now.']) {
      await slack.waitForCall((c) => c.method === 'chat.postMessage' && c.params.thread_ts === again.ts && String(c.params.text).includes(text));
    }
    const inNew = slack.calls.filter((c) => c.method === 'chat.postMessage' && c.params.thread_ts === again.ts).map((c) => String(c.params.text));
    expect(inNew.findIndex((t) => t.includes('Beeps'))).toBeLessThan(inNew.findIndex((t) => t.includes('Replaced the battery')));
    expect(inNew.find((t) => t.includes('Replaced the battery'))).toContain('answered the reporter');
  });
});

describe('language', () => {
  it("a workspace added in Russian gets its tickets' messages, threads and answers in Russian", async () => {
    const ru = await seedOrganization(app, 'Русская Org');
    const ruTeam: Team = { teamId: 'T0RUSSIAN', secret: '9a8b7c6d5e4f30211203f4e5d6c7b8a9' };
    await connectWorkspace(new SlackStore(app.rt.orm, new SecretBox(app.rt.secret)), slack.url, {
      organizationId: ru.org.id, botToken: slack.addWorkspace(ruTeam.teamId, 'U0RUBOT'), signingSecret: ruTeam.secret, triageChannel: 'C0RUSSIAN',
      noteMarkers: ['заметка:'], language: 'ru',
    });
    const created = await apiClient(app.baseUrl, ru.agent.key).post('/tickets', { subject: 'Не печатает принтер', description: 'Замятие бумаги', reporter: { email: 'ivan@example.ru', name: 'Иван' } });
    expect([201, 202]).toContain(created.status);
    const card = await slack.waitForCall((c) => c.method === 'chat.postMessage' && c.params.channel === 'C0RUSSIAN' && !c.params.thread_ts);
    const blocks = JSON.stringify(card.params.blocks);
    for (const word of ['Не печатает принтер', 'Иван (ivan@example.ru)', 'Заявитель', 'Статус', 'Приоритет', 'Взять', 'Решить', 'Закрыть', 'Обычный']) expect(blocks).toContain(word);
    expect(blocks).not.toMatch(/Reporter|Take|Resolve/);
    const thread = await until(async () => (await sql<{ ts: string }>(`SELECT s.ts FROM slack_threads s WHERE s.organization_id = $1`, [ru.org.id]))[0], 'the thread');
    const first = await slack.waitForCall((c) => c.method === 'chat.postMessage' && c.params.channel === 'C0RUSSIAN' && c.params.thread_ts === thread.ts);
    expect(String(first.params.text)).toContain('открыл(а) это обращение от имени заявителя');
    // A stranger in that workspace is told in Russian why nothing happened.
    slack.addUser({ id: 'U0RUSTRANGER', name: 'Пётр', email: 'petr@elsewhere.test', teamId: ruTeam.teamId });
    // The web process reads the list of workspaces again at most once a second, so a workspace connected just
    // after it did may see its first request refused with 401; Slack retries, and so does this test.
    await until(async () => (await postToSlackApp(app.baseUrl, ruTeam, slashCommand(ruTeam, { user: 'U0RUSTRANGER', channel: 'C0RUSSIAN', text: '1001', responseUrl: `${slack.base}/response/ru` }), FORM)).status === 200, 'the command taken');
    const answer = await slack.waitForCall((c) => c.method === 'response_url' && c.params.path === '/response/ru');
    expect(answer.params.text).toContain('не принадлежит сотруднику');
  });
});

describe('administration', () => {
  const cli = (args: string[], env: Record<string, string> = {}) => promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], {
    env: { ...process.env, DATABASE_URL: app.db.url, DATA_DIR: app.dataDir, APP_SECRET: 'test-secret-test-secret', LOG_LEVEL: 'silent', SLACK_API_URL: slack.url, ...env }, timeout: 60_000,
  });
  const secret = 'c0ffee00c0ffee00c0ffee00c0ffee00';

  it('adds a workspace after auth.test, lists, tests and removes it; a wrong token or an unreachable Slack is one sentence', async () => {
    const org = await seedOrganization(app, 'CLI Slack Org');
    const token = slack.addWorkspace('T0CLI', 'U0CLIBOT');
    await expect(cli(['slack', 'add', '--org', org.org.slug, '--token', 'xoxb-wrong-token', '--signing-secret', secret, '--channel', 'C0CLI']))
      .rejects.toMatchObject({ stderr: expect.stringContaining('Slack did not accept the bot token (invalid_auth)') });
    await expect(cli(['slack', 'add', '--org', org.org.slug, '--token', token, '--signing-secret', secret, '--channel', 'C0CLI', '--language', 'fr']))
      .rejects.toMatchObject({ stderr: expect.stringContaining('--language is one of en, ru, de') });
    await expect(cli(['slack', 'add', '--org', org.org.slug, '--token', token, '--signing-secret', secret, '--channel', 'C0CLI', '--note-markers', ',']))
      .rejects.toMatchObject({ stderr: expect.stringContaining('--note-markers needs at least one marker') });
    // A channel Slack cannot show is said at once (the workspace is kept: the app may be invited later).
    slack.failNext('conversations.info', { error: 'channel_not_found' });
    const added = JSON.parse((await cli(['slack', 'add', '--org', org.org.slug, '--token', token, '--signing-secret', secret, '--channel', 'C0CLI', '--language', 'de'])).stdout);
    expect(added.warning).toContain('channel_not_found');
    expect(added).toMatchObject({ organization: org.org.slug, triageChannel: 'C0CLI', language: 'de', requestUrl: expect.stringMatching(/\/slack\/events$/) });
    const listed = JSON.parse((await cli(['slack', 'list'])).stdout) as Array<Record<string, unknown>>;
    expect(listed.find((w) => w.organization === org.org.slug)).toMatchObject({ teamId: 'T0CLI', triageChannel: 'C0CLI', language: 'de', enabled: true });
    expect(JSON.stringify(listed)).not.toContain(token);
    // Moving to another triage channel keeps the language it was given.
    const moved = JSON.parse((await cli(['slack', 'add', '--org', org.org.slug, '--token', token, '--signing-secret', secret, '--channel', 'C0CLIMOVED', '--replace'])).stdout);
    expect(moved).toMatchObject({ triageChannel: 'C0CLIMOVED', language: 'de' });
    const [stored] = await sql(`SELECT bot_token, signing_secret FROM slack_workspaces WHERE team_id = 'T0CLI'`);
    expect(`${stored!.bot_token} ${stored!.signing_secret}`).not.toMatch(new RegExp(`${token}|${secret}`));
    expect(JSON.parse((await cli(['slack', 'test', '--org', org.org.slug])).stdout)).toMatchObject({ team: 'Team T0CLI', triageChannel: { id: 'C0CLIMOVED', ok: true, member: true } });
    // A triage channel Slack cannot show fails the test, saying what to check.
    slack.failNext('conversations.info', { error: 'channel_not_found' });
    const failed = await cli(['slack', 'test', '--org', org.org.slug]).then(() => null, (err: { code: number; stdout: string }) => err);
    expect(failed?.code).toBe(1);
    expect(JSON.parse(failed!.stdout).problem).toContain('channel_not_found');
    // Slack out of reach is not a refused token.
    await expect(cli(['slack', 'test', '--org', org.org.slug], { SLACK_API_URL: 'http://127.0.0.1:9/api/' }))
      .rejects.toMatchObject({ stderr: expect.stringContaining('Slack could not be reached') });
    expect(JSON.parse((await cli(['slack', 'remove', '--org', org.org.slug])).stdout)).toEqual({ removed: org.org.slug });
    expect(await sql(`SELECT 1 FROM slack_workspaces WHERE team_id = 'T0CLI'`)).toHaveLength(0);
  }, 120_000);

  it('connects the workspace the environment names at start, in the language it names', async () => {
    const envOrg = await app.directory.createOrganization('Env Slack Org', 'env-slack-org');
    const token = slack.addWorkspace('T0ENV', 'U0ENVBOT');
    const second = await startTestApp({
      db: app.db, web: false,
      env: {
        SLACK_API_URL: slack.url, APP_SECRET: 'test-secret-test-secret', SLACK_BOT_TOKEN: token, SLACK_SIGNING_SECRET: secret,
        SLACK_ORGANIZATION: 'env-slack-org', SLACK_TRIAGE_CHANNEL: 'C0ENV', SLACK_LANGUAGE: 'ru',
      },
      workerOptions: { email: false, telegram: false },
    });
    try {
      const [row] = await sql(`SELECT organization_id, triage_channel, language FROM slack_workspaces WHERE team_id = 'T0ENV'`);
      expect(row).toMatchObject({ organization_id: envOrg.id, triage_channel: 'C0ENV', language: 'ru' });
    } finally {
      await second.stop();
    }
  }, 60_000);
});

describe('signatures', () => {
  it('a wrong or stale signature gets 401 and changes nothing', async () => {
    const t = await mailTicket('Forged', 'forgery');
    const thread = await parentOf(t.number);
    const event = threadReply({ channel: thread.channel, user: AGENT, text: 'forged reply', threadTs: thread.ts, team: team.teamId });
    const cb = eventCallback(team, event);
    expect((await send(cb.body, 'application/json', { secret: 'ffffffffffffffffffffffffffffffff' })).status).toBe(401);
    expect((await send(cb.body, 'application/json', { timestamp: Math.floor(Date.now() / 1000) - 600 })).status).toBe(401);
    expect((await send(cb.body, 'application/json', { signature: 'v0=00' })).status).toBe(401);
    const unsigned = await fetch(`${app.baseUrl}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: cb.body });
    expect(unsigned.status).toBe(401);
    await sleep(500);
    expect((await sql(`SELECT count(*)::int AS n FROM messages WHERE body = 'forged reply'`))[0]!.n).toBe(0);
  });

  it("a body naming another team than the one whose secret signed it gets 401", async () => {
    const t = await mailTicket('Shared app', 'one app, two workspaces');
    const thread = await parentOf(t.number);
    const event = threadReply({ channel: thread.channel, user: AGENT, text: 'from an unconnected workspace', threadTs: thread.ts, team: 'T0UNKNOWN' });
    const cb = eventCallback({ ...team, teamId: 'T0UNKNOWN' }, event);
    expect((await send(cb.body)).status).toBe(401);
  });

  it('a signed body that is not a Slack request gets a quick 4xx saying what was expected, and the app goes on', async () => {
    const bodies: Array<[string, string, number]> = [
      ['null', 'application/json', 400],
      ['[1]', 'application/json', 400],
      ['{}', 'application/json', 400],
      ['"str"', 'application/json', 400],
      ['{not json', 'application/json', 400],
      ['', 'application/json', 400],
      ['{"type":"event_callback"}', 'application/json', 400],
      ['{"type":"event_callback","event":null}', 'application/json', 400],
      ['payload=null', FORM, 400],
      ['payload=%7Bnot', FORM, 400],
      [`payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', user: { id: AGENT }, actions: null }))}`, FORM, 400],
      ['command=%2Fticket', FORM, 400],
      ['hello', 'text/plain', 415],
    ];
    for (const [body, type, status] of bodies) {
      const started = Date.now();
      const res = await send(body, type);
      expect(res.status, `${type} ${body}`).toBe(status);
      expect(JSON.parse(res.text).error.message, `${type} ${body}`).toMatch(/Slack/);
      expect(Date.now() - started).toBeLessThan(1000);
    }
    // Well-formed interactions this app has no handler for are acknowledged (Slack would retry a 4xx), not refused.
    const closed = await send(`payload=${encodeURIComponent(JSON.stringify({ type: 'view_closed', user: { id: AGENT }, view: { id: 'V1' } }))}`, FORM);
    expect(closed.status).toBe(200);
    expect((await fetch(`${app.baseUrl}/readyz`)).status).toBe(200);
  });

  it('answers the URL verification challenge when signed', async () => {
    const res = await send(JSON.stringify({ token: 'x', challenge: 'abc123', type: 'url_verification' }));
    expect(res.status).toBe(200);
    expect(res.text).toContain('abc123');
  });
});
