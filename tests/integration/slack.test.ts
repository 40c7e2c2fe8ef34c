import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectWorkspace } from '../../src/channels/slack/index.ts';
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
  await Promise.all([slack?.close(), tg?.close(), smtp?.close()]);
});

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

const parentPost = (number: number) => (c: SlackCall) => c.method === 'chat.postMessage' && !c.params.failedWith && !c.params.thread_ts && String(c.params.text).startsWith(`#${number} `);
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
    const reply = await replyInThread(thread, AGENT, 'Please reinstall the client: <https://vpn.example.org/client|download page> &amp; restart.', [file]);
    const mail = await smtp.waitFor((m) => m.envelopeTo.includes(t.email) && (m.parsed.text ?? '').includes('reinstall the client'));
    expect(mail.parsed.text).toContain('download page (https://vpn.example.org/client) & restart.');
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
    expect((await send(eventCallback(team, own).body)).status).toBe(200);
    const asUser = { ...threadReply({ channel: thread.channel, user: BOT_USER, text: 'bot as user', threadTs: thread.ts, team: team.teamId }) };
    expect((await send(eventCallback(team, asUser).body)).status).toBe(200);
    const edit = { type: 'message', subtype: 'message_changed', channel: thread.channel, hidden: true, ts: slackTs(), message: { text: 'edited', user: AGENT, thread_ts: thread.ts } };
    expect((await send(eventCallback(team, edit).body)).status).toBe(200);
    await sleep(800);
    expect((await sql(`SELECT count(*)::int AS n FROM messages WHERE ticket_id = $1`, [t.id]))[0]!.n).toBe(1);
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
    expect((await postToSlackApp(app.baseUrl, otherTeam, eventCallback(otherTeam, event).body, 'application/json')).status).toBe(200);
    // And asks for this organization's ticket by number.
    await postToSlackApp(app.baseUrl, otherTeam, slashCommand(otherTeam, { user: 'U0OTHERAGENT', channel: 'C0OTHER', text: String(t.number), responseUrl: `${slack.base}/response/other` }), FORM);
    const answer = await slack.waitForCall((c) => c.method === 'response_url' && c.params.path === '/response/other');
    expect(answer.params.text).toContain('does not exist');
    await sleep(500);
    expect((await sql(`SELECT count(*)::int AS n FROM messages WHERE body = 'cross-tenant reply'`))[0]!.n).toBe(0);
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
    const added = JSON.parse((await cli(['slack', 'add', '--org', org.org.slug, '--token', token, '--signing-secret', secret, '--channel', 'C0CLI', '--language', 'de'])).stdout);
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
