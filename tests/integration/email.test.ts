import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import iconv from 'iconv-lite';
import { Mailboxes } from '../../src/persistence/mailboxes.ts';
import { MailStore } from '../../src/persistence/mail-store.ts';
import { SecretBox } from '../../src/security/secret-box.ts';
import { apiClient, seedOrganization, startTestApp, type TestApp } from '../support/app.ts';
import { createTestDatabase, query, type TestDatabase } from '../support/database.ts';
import { startDovecot, type TestImapServer } from '../support/dovecot.ts';
import { encodedWord, filePart, mail, messageId, rfc2231, textPart } from '../support/mail-fixtures.ts';
import { startSmtpSink, type SentMail, type SmtpSink } from '../support/smtp-sink.ts';

/*
 * The email channel against a real IMAP server (dovecot) and a real SMTP conversation (an smtp-server sink):
 * mail appended to the mailbox becomes tickets and messages, answers leave by SMTP with thread headers.
 */

const MAILBOX = 'support@helpdesk.test';
// A 1x1 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
const ATTACHMENT_LIMIT = 200_000;
let imap: TestImapServer;
let smtp: SmtpSink;
let app: TestApp;
let db: TestDatabase;
let seed: Awaited<ReturnType<typeof seedOrganization>>;

async function startApp(): Promise<TestApp> {
  return startTestApp({
    db,
    env: {
      PUBLIC_URL: 'https://help.example.org', APP_SECRET: 'test-secret-test-secret', ATTACHMENT_MAX_BYTES: String(ATTACHMENT_LIMIT),
      MAIL_SENDER_LIMIT_PER_MINUTE: '6', MAIL_POLL_MS: '1000', JOB_BACKOFF_MS: '100', JOB_BACKOFF_MAX_MS: '500',
      MAIL_MAX_BYTES: String(3 * 1024 * 1024),
    },
    workerOptions: { email: { idleDelayMs: 100, refreshMs: 300 } },
  });
}

beforeAll(async () => {
  [imap, smtp, db] = await Promise.all([startDovecot(), startSmtpSink(), createTestDatabase()]);
  app = await startApp();
  seed = await seedOrganization(app, 'Mail Org');
  await new Mailboxes(app.rt.orm, new SecretBox(app.rt.secret)).add({
    organizationId: seed.org.id, address: MAILBOX, imapUrl: imap.imapUrl, smtpUrl: smtp.url, plusAddressing: true,
  });
}, 60_000);

afterAll(async () => {
  await app?.stop();
  await Promise.all([imap?.dispose(), smtp?.close()]);
  await db?.drop();
});

async function deliver(raw: Buffer): Promise<void> {
  const c = await imap.client();
  try {
    await c.append('INBOX', raw);
  } finally {
    await c.logout();
  }
}

const sql = <T = Record<string, any>>(text: string, params: unknown[] = []) => query<T & Record<string, any>>(app.db.url, text, params);

/** Waits until the mail with this Message-ID has been settled, and returns its log row. */
async function settled(id: string, timeoutMs = 20_000): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await sql(
      `SELECT m.*, t.number FROM inbound_mails m LEFT JOIN tickets t ON t.id = m.ticket_id WHERE m.message_id_header = $1`, [id]);
    if (row) return row;
    if (Date.now() > deadline) throw new Error(`mail ${id} was not taken within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const confirmationOf = (n: number) => (m: SentMail) => m.parsed.subject?.startsWith(`[#${n}]`) === true && m.parsed.headers.get('auto-submitted') === 'auto-replied';

describe('a new mail', () => {
  it('becomes a ticket, and the reporter gets a confirmation that threads with their mail', async () => {
    const id = messageId();
    await deliver(mail({ from: 'Rita Reporter <rita@customer.test>', subject: 'Printer on floor 3 is jammed', id, text: 'It shows error E42.\nPlease help.' }));
    const row = await settled(id);
    expect(row).toMatchObject({ status: 'ticket', thread_rule: 'new', from_address: 'rita@customer.test' });
    const [ticket] = await sql(`SELECT t.*, r.name AS reporter FROM tickets t JOIN reporters r ON r.id = t.reporter_id WHERE t.number = $1 AND t.organization_id = $2`, [row.number, seed.org.id]);
    expect(ticket).toMatchObject({ subject: 'Printer on floor 3 is jammed', channel: 'email', reporter: 'Rita Reporter' });
    expect(ticket!.description).toContain('error E42');

    const sent = await smtp.waitFor(confirmationOf(row.number));
    expect(sent.envelopeTo).toEqual(['rita@customer.test']);
    expect(sent.parsed.subject).toBe(`[#${row.number}] Printer on floor 3 is jammed`);
    expect(sent.parsed.inReplyTo).toBe(id);
    expect(sent.parsed.headers.get('x-auto-response-suppress')).toBe('All');
    expect(sent.parsed.messageId).toMatch(/^<n\.[0-9a-f-]+@helpdesk\.test>$/);
    expect(sent.parsed.text).toContain(`registered as ticket #${row.number}`);
    expect(sent.parsed.text).toMatch(new RegExp(`https://help\\.example\\.org/portal/tickets/${row.number}\\?org=[^&]+&r=[^&]+&exp=\\d+&sig=[0-9a-f]{32}`));
    // Plus-addressing: replies go to an address that names the ticket.
    expect(sent.parsed.replyTo?.value[0]?.address).toMatch(new RegExp(`^support\\+t\\.${row.number}\\.[0-9a-f]{12}@helpdesk\\.test$`));

    // The mail is flagged \Seen only now that its ticket is committed.
    const c = await imap.client();
    await c.mailboxOpen('INBOX');
    const flags = [];
    for await (const m of c.fetch('1:*', { flags: true, envelope: true })) if (m.envelope?.messageId === id) flags.push(...(m.flags ?? []));
    await c.logout();
    expect(flags).toContain('\\Seen');
  });

  it('from a Russian writer gets a Russian confirmation', async () => {
    const id = messageId();
    await deliver(mail({ from: 'ivan@customer.test', subject: encodedWord('Не работает лифт'), id, text: 'Лифт стоит на втором этаже, двери не открываются.' }));
    const row = await settled(id);
    const sent = await smtp.waitFor(confirmationOf(row.number));
    expect(sent.parsed.subject).toBe(`[#${row.number}] Не работает лифт`);
    expect(sent.parsed.text).toContain(`зарегистрировано под номером #${row.number}`);
  });
});

describe('answers and replies', () => {
  it('an agent reply reaches the reporter threaded, with the agent name and the files; the reporter reply lands on the same ticket', async () => {
    const id = messageId();
    await deliver(mail({ from: 'Paul <paul@customer.test>', subject: 'VPN drops every hour', id, text: 'Since Monday.' }));
    const { number } = await settled(id);
    const confirmation = await smtp.waitFor(confirmationOf(number));

    const agent = apiClient(app.baseUrl, seed.agent.key);
    const fd = new FormData();
    fd.append('body', 'Please install the new client. Guide attached.');
    fd.append('file', new Blob([new TextEncoder().encode('step 1, step 2')], { type: 'text/plain' }), 'guide.txt');
    const res = await agent.raw('POST', `/tickets/${number}/comments`, { body: fd });
    expect(res.status).toBeLessThan(300);
    expect((await agent.post(`/tickets/${number}/comments`, { body: 'Note: this user is on the old client', internal: true })).status).toBeLessThan(300);

    const reply = await smtp.waitFor((m) => m.parsed.text?.includes('install the new client') === true);
    expect(reply.envelopeTo).toEqual(['paul@customer.test']);
    expect(reply.parsed.subject).toBe(`[#${number}] VPN drops every hour`);
    expect(reply.parsed.inReplyTo).toBe(id);
    const references = ([] as string[]).concat(reply.parsed.references ?? []);
    expect(references).toEqual(expect.arrayContaining([id, confirmation.parsed.messageId!]));
    expect(reply.parsed.from?.value[0]).toMatchObject({ name: `agent ${seed.agent.email} (Mail Org)`, address: MAILBOX });
    expect(reply.parsed.headers.get('auto-submitted')).toBeUndefined();
    expect(reply.parsed.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([['guide.txt', 'step 1, step 2']]);

    // The reporter answers from their mail client: quoted history and all.
    const answerId = messageId();
    await deliver(mail({
      from: 'Paul <paul@customer.test>', subject: `Re: [#${number}] VPN drops every hour`, id: answerId,
      headers: [`In-Reply-To: ${reply.parsed.messageId}`, `References: ${id} ${reply.parsed.messageId}`],
      text: `Installed it, works now. Thanks!\n\nOn Mon, 23 Nov 2026 at 10:00, Support <${MAILBOX}> wrote:\n> Please install the new client.\n> Guide attached.`,
    }));
    const answer = await settled(answerId);
    expect(answer).toMatchObject({ status: 'message', thread_rule: 'references', number });
    const messages = await sql(`SELECT m.body, m.metadata FROM messages m JOIN tickets t ON t.id = m.ticket_id WHERE t.number = $1 AND t.organization_id = $2 ORDER BY m.created_at`, [number, seed.org.id]);
    expect(messages).toHaveLength(4);
    expect(messages[3]!.body).toBe('Installed it, works now. Thanks!');
    expect(messages[3]!.metadata.email).toMatchObject({ messageId: answerId, threadRule: 'references' });
    // Only the public reply and the confirmation were mailed; never the internal note.
    expect(smtp.mails.filter((m) => m.envelopeTo.includes('paul@customer.test'))).toHaveLength(2);
    expect(smtp.mails.some((m) => m.parsed.text?.includes('old client'))).toBe(false);
    expect(smtp.mails.some((m) => m.parsed.text?.includes('old client'))).toBe(false);
    // A long answer arrives whole, not as the preview notifications carry.
    const long = `Long answer start. ${'All the details of the fix. '.repeat(300)}Long answer end.`;
    expect((await agent.post(`/tickets/${number}/comments`, { body: long })).status).toBeLessThan(300);
    const longMail = await smtp.waitFor((m) => m.parsed.text?.includes('Long answer start.') === true);
    expect(longMail.parsed.text).toContain('Long answer end.');

    // The agent can see why the mail landed there.
    const view = await agent.get(`/tickets/${number}`);
    const fromMail = view.body.messages.data.find((m: { body: string }) => m.body.startsWith('Installed it'));
    expect(fromMail.metadata.email).toMatchObject({ threadRule: 'references', messageId: answerId });
  });

  it('threads by the signed reply address, and by the subject tag only for the reporter', async () => {
    const id = messageId();
    await deliver(mail({ from: 'nora@customer.test', subject: 'Badge reader broken', id, text: 'Door 5.' }));
    const { number } = await settled(id);
    const confirmation = await smtp.waitFor(confirmationOf(number));
    const replyTo = confirmation.parsed.replyTo!.value[0]!.address!;

    const byAddress = messageId();
    await deliver(mail({ from: 'nora@customer.test', to: replyTo, subject: 'more details', id: byAddress, text: 'It beeps twice.' }));
    expect(await settled(byAddress)).toMatchObject({ status: 'message', thread_rule: 'reply-address', number });

    const byTag = messageId();
    await deliver(mail({ from: 'nora@customer.test', subject: `Re: [#${number}] Badge reader broken`, id: byTag, text: 'Door 6 too.' }));
    expect(await settled(byTag)).toMatchObject({ status: 'message', thread_rule: 'subject-tag', number });

    // A stranger naming the ticket in the subject, or forging a reply address with a bad signature, opens a ticket of their own.
    const forged = messageId();
    await deliver(mail({ from: 'mallory@evil.test', to: `support+t.${number}.0123456789ab@helpdesk.test`, subject: `[#${number}] I am the agent, reset the door code`, id: forged, text: 'code?' }));
    const stranger = await settled(forged);
    expect(stranger.status).toBe('ticket');
    expect(stranger.number).not.toBe(number);
    expect(stranger.reason).toContain('not its reporter');

    // A From header naming an agent makes no agent reply: it is a reporter's mail like any other.
    const spoofed = messageId();
    await deliver(mail({ from: `Agent <${seed.agent.email}>`, subject: `Re: [#${number}] Badge reader broken`, id: spoofed, text: 'Code is 1234' }));
    const spoof = await settled(spoofed);
    expect(spoof.status).toBe('ticket');
    expect(spoof.number).not.toBe(number);
    const [authors] = await sql(`SELECT count(*) FILTER (WHERE author_user_id IS NOT NULL)::int AS by_users FROM messages WHERE body = 'Code is 1234'`);
    expect(authors!.by_users).toBe(0);
  });

  it('does not trust a From that the receiving server found forged (DMARC fail)', async () => {
    const id = messageId();
    await deliver(mail({ from: 'dora@customer.test', subject: 'Door sensor', id, text: 'Sensor offline.' }));
    const { number } = await settled(id);
    const forged = messageId();
    await deliver(mail({
      from: 'dora@customer.test', subject: `Re: [#${number}] Door sensor`, id: forged, text: 'Please disable the alarm.',
      headers: ['Authentication-Results: mx.helpdesk.test; spf=fail smtp.mailfrom=evil.test; dmarc=fail header.from=customer.test'],
    }));
    const row = await settled(forged);
    expect(row.status).toBe('ticket');
    expect(row.number).not.toBe(number);
  });

  it('knows a customer who has an account as the same reporter', async () => {
    const id = messageId();
    await deliver(mail({ from: seed.customer.email.toUpperCase(), subject: 'Mail from a customer with an account', id, text: 'Hi' }));
    const row = await settled(id);
    const mine = await apiClient(app.baseUrl, seed.customer.key).get('/tickets');
    expect(mine.body.data.map((t: { number: number }) => t.number)).toContain(row.number);
  });

  it('a reply to a ticket closed within the window reopens it; after the window it opens a linked ticket', async () => {
    const id = messageId();
    await deliver(mail({ from: 'olga@customer.test', subject: 'Projector', id, text: 'No signal.' }));
    const { number } = await settled(id);
    const agent = apiClient(app.baseUrl, seed.agent.key);
    expect((await agent.patch(`/tickets/${number}`, { status: 'closed' })).status).toBe(200);
    const statusMail = await smtp.waitFor((m) => m.envelopeTo.includes('olga@customer.test') && m.parsed.text?.includes('is now: closed') === true);
    expect(statusMail.parsed.subject).toBe(`[#${number}] Projector`);
    expect(statusMail.parsed.headers.get('auto-submitted')).toBe('auto-replied');

    const soon = messageId();
    await deliver(mail({ from: 'olga@customer.test', subject: `Re: [#${number}] Projector`, id: soon, headers: [`In-Reply-To: ${id}`], text: 'Broken again.' }));
    expect(await settled(soon)).toMatchObject({ status: 'message', number });
    expect((await agent.get(`/tickets/${number}`)).body.status).toBe('open');

    expect((await agent.patch(`/tickets/${number}`, { status: 'closed' })).status).toBe(200);
    await sql(`UPDATE ticket_events SET created_at = now() - interval '8 days' WHERE ticket_id = (SELECT id FROM tickets WHERE number = $1 AND organization_id = $2)`, [number, seed.org.id]);
    const late = messageId();
    await deliver(mail({ from: 'olga@customer.test', subject: `Re: [#${number}] Projector`, id: late, headers: [`In-Reply-To: ${id}`], text: 'And again, weeks later.' }));
    const row = await settled(late);
    expect(row.status).toBe('ticket');
    const [linked] = await sql(`SELECT t.subject, f.number AS follows FROM tickets t JOIN tickets f ON f.id = t.follow_up_of_id WHERE t.id = $1`, [row.ticket_id]);
    expect(linked).toMatchObject({ follows: number, subject: 'Projector' });
    expect((await agent.get(`/tickets/${number}`)).body.status).toBe('closed');
  });
});

describe('no loops', () => {
  it('an out-of-office reply and a bounce create nothing and send nothing; the bounce marks the address', async () => {
    const id = messageId();
    await deliver(mail({ from: 'sam@customer.test', subject: 'Monitor flickers', id, text: 'Flickers.' }));
    const { number } = await settled(id);
    const confirmation = await smtp.waitFor(confirmationOf(number));
    const sentBefore = smtp.mails.length;
    const ticketsBefore = (await sql('SELECT count(*)::int AS n FROM tickets'))[0]!.n;

    const ooo = messageId();
    await deliver(mail({
      from: 'sam@customer.test', subject: `Automatic reply: [#${number}] Monitor flickers`, id: ooo,
      headers: ['Auto-Submitted: auto-replied', `In-Reply-To: ${confirmation.parsed.messageId}`], text: 'I am out of office until Monday.',
    }));
    const listMail = messageId();
    await deliver(mail({ from: 'news@vendor.test', subject: 'Our newsletter', id: listMail, headers: ['List-Id: <news.vendor.test>', 'Precedence: bulk'], text: 'News' }));
    const bounce = messageId();
    await deliver(mail({
      from: 'Mail Delivery System <MAILER-DAEMON@mx.customer.test>', to: MAILBOX, subject: 'Undelivered Mail Returned to Sender', id: bounce,
      headers: ['Auto-Submitted: auto-replied'], contentType: 'multipart/report; report-type=delivery-status',
      parts: [
        textPart('This is the mail system. Your message could not be delivered to sam@customer.test.'),
        { headers: ['Content-Type: message/delivery-status'], body: 'Reporting-MTA: dns; mx.customer.test\r\n\r\nFinal-Recipient: rfc822; sam@customer.test\r\nAction: failed\r\nStatus: 5.1.1\r\n' },
        { headers: ['Content-Type: text/rfc822-headers'], body: `Message-ID: ${confirmation.parsed.messageId}\r\nSubject: [#${number}] Monitor flickers\r\n` },
      ],
    }));
    expect(await settled(ooo)).toMatchObject({ status: 'automatic', ticket_id: null });
    expect((await settled(listMail)).status).toBe('automatic');
    const b = await settled(bounce);
    expect(b.status).toBe('bounce');
    expect(b.reason).toContain('sam@customer.test');
    expect((await sql('SELECT count(*)::int AS n FROM tickets'))[0]!.n).toBe(ticketsBefore);
    const [identity] = await sql(`SELECT deliverable FROM reporter_identities WHERE address = 'sam@customer.test'`);
    expect(identity!.deliverable).toBe(false);
    await new Promise((r) => setTimeout(r, 500));
    expect(smtp.mails.length).toBe(sentBefore);
  });

  it('a forged bounce that names no mail of ours marks nobody', async () => {
    const id = messageId();
    await deliver(mail({ from: 'victim@customer.test', subject: 'Real request', id, text: 'hello' }));
    await smtp.waitFor(confirmationOf((await settled(id)).number));
    const forged = messageId();
    await deliver(mail({
      from: 'postmaster@evil.test', subject: 'Undeliverable', id: forged, headers: ['X-Failed-Recipients: victim@customer.test'],
      text: 'Final-Recipient: rfc822; victim@customer.test\nAction: failed',
    }));
    const row = await settled(forged);
    expect(row.status).toBe('bounce');
    expect(row.reason).toContain('no address marked');
    const [identity] = await sql(`SELECT deliverable FROM reporter_identities WHERE address = 'victim@customer.test'`);
    expect(identity!.deliverable).toBe(true);
  });

  it('holds mails beyond the per-sender limit instead of opening tickets', async () => {
    const ids = Array.from({ length: 8 }, () => messageId());
    for (const [i, id] of ids.entries()) await deliver(mail({ from: 'flood@customer.test', subject: `Flood ${i}`, id, text: `mail ${i}` }));
    const rows = await Promise.all(ids.map((id) => settled(id)));
    expect(rows.map((r) => r.status)).toEqual(['ticket', 'ticket', 'ticket', 'ticket', 'ticket', 'ticket', 'held', 'held']);
    expect(rows[7]!.reason).toContain('6 mails a minute');
    expect(rows[7]!.raw_storage_key).toBeTruthy();

    // Admins see what was held, and can fetch its source; agents and other organizations cannot.
    const admin = apiClient(app.baseUrl, seed.admin.key);
    const held = await admin.get('/mail/inbound?status=held');
    expect(held.status).toBe(200);
    expect(held.body.data.map((m: { message_id_header: string }) => m.message_id_header)).toEqual(expect.arrayContaining([ids[6], ids[7]]));
    expect(held.body.data[0]).toMatchObject({ status: 'held', from_address: 'flood@customer.test', has_raw: true });
    const raw = await admin.get(`/mail/inbound/${held.body.data[0].id}/raw`);
    expect(raw.status).toBe(200);
    expect(raw.headers.get('content-type')).toBe('message/rfc822');
    expect(raw.text).toContain('flood@customer.test');
    expect((await apiClient(app.baseUrl, seed.agent.key).get('/mail/inbound')).status).toBe(403);
    const other = await seedOrganization(app);
    const foreign = apiClient(app.baseUrl, other.admin.key);
    expect((await foreign.get('/mail/inbound')).body.total).toBe(0);
    expect((await foreign.get(`/mail/inbound/${held.body.data[0].id}/raw`)).status).toBe(404);
    expect((await admin.get('/mail/inbound?status=lost')).status).toBe(422);

    // An admin releases a held mail: it becomes a ticket after all, once.
    expect((await apiClient(app.baseUrl, seed.agent.key).raw('POST', `/mail/inbound/${held.body.data[0].id}/release`)).status).toBe(403);
    expect((await foreign.raw('POST', `/mail/inbound/${held.body.data[0].id}/release`)).status).toBe(404);
    const released = await admin.raw('POST', `/mail/inbound/${held.body.data[0].id}/release`);
    expect(released.status).toBe(200);
    expect(released.body).toMatchObject({ status: 'ticket', message_id_header: held.body.data[0].message_id_header });
    expect(released.body.ticket).toBeGreaterThan(0);
    expect((await admin.raw('POST', `/mail/inbound/${held.body.data[0].id}/release`)).status).toBe(404);
    expect((await settled(held.body.data[0].message_id_header)).status).toBe('ticket');
  });
});

describe('what arrives', () => {
  it('keeps windows-1251 and KOI8-R subjects, bodies and file names intact', async () => {
    const cp1251 = messageId();
    await deliver(mail({
      from: `${encodedWord('Пётр Иванов', 'windows-1251')} <petr@customer.test>`, subject: encodedWord('Сломался принтер в бухгалтерии', 'windows-1251'), id: cp1251,
      parts: [
        textPart('Принтер печатает пустые листы. Что делать?', 'windows-1251'),
        filePart(Buffer.from('%PDF-1.4 test'), `attachment; ${rfc2231('filename', 'Акт приёмки.pdf', 'windows-1251')}`, 'application/pdf'),
      ],
    }));
    const koi = messageId();
    await deliver(mail({
      from: 'anna@customer.test', subject: encodedWord('Нет отопления в офисе', 'koi8-r'), id: koi,
      parts: [
        textPart('Батареи холодные с утра.', 'koi8-r'),
        filePart(Buffer.from('photo bytes'), `attachment; filename="${encodedWord('фото батареи.jpg', 'koi8-r')}"`, 'image/jpeg'),
      ],
    }));
    for (const [id, subject, body, file, reporter] of [
      [cp1251, 'Сломался принтер в бухгалтерии', 'Принтер печатает пустые листы. Что делать?', 'Акт приёмки.pdf', 'Пётр Иванов'],
      [koi, 'Нет отопления в офисе', 'Батареи холодные с утра.', 'фото батареи.jpg', ''],
    ] as const) {
      const row = await settled(id);
      const [t] = await sql(`SELECT t.subject, t.description, r.name, (SELECT json_agg(a.filename) FROM attachments a WHERE a.ticket_id = t.id) AS files
                               FROM tickets t JOIN reporters r ON r.id = t.reporter_id WHERE t.id = $1`, [row.ticket_id]);
      expect(t).toMatchObject({ subject, description: body, files: [file], name: reporter });
    }
  });

  it('stores HTML-only mail sanitized, with a readable text', async () => {
    const id = messageId();
    await deliver(mail({
      from: 'html@customer.test', subject: 'HTML only', id,
      parts: [
        { headers: ['Content-Type: text/html; charset=utf-8'], body: '<html><body><p>Hello <b>team</b>,</p><script>alert(1)</script><p onclick="x()">the <a href="javascript:evil()">screen</a> is black.</p><img src="cid:shot@x"></body></html>' },
        { ...filePart(PNG, 'inline; filename="screenshot.png"', 'image/png'), headers: ['Content-Type: image/png', 'Content-Transfer-Encoding: base64', 'Content-ID: <shot@x>', 'Content-Disposition: inline; filename="screenshot.png"'] },
      ],
      contentType: 'multipart/related',
    }));
    const row = await settled(id);
    const [m] = await sql(`SELECT body, body_html, (SELECT json_agg(json_build_object('name', a.filename, 'type', a.content_type)) FROM attachments a WHERE a.message_id = messages.id) AS files FROM messages WHERE ticket_id = $1`, [row.ticket_id]);
    expect(m!.files).toEqual([{ name: 'screenshot.png', type: 'image/png' }]);
    expect(m!.body).toContain('Hello team,');
    expect(m!.body).toContain('the screen is black.');
    expect(m!.body_html).toContain('<b>team</b>');
    expect(m!.body_html).not.toMatch(/script|onclick|javascript/);
  });

  it('leaves out an attachment over the limit with a note, and still makes the ticket', async () => {
    const id = messageId();
    await deliver(mail({
      from: 'big@customer.test', subject: 'Logs', id,
      parts: [
        textPart('Logs attached.'),
        filePart(Buffer.alloc(ATTACHMENT_LIMIT + 1000, 7), 'attachment; filename="huge.log"'),
        filePart(Buffer.from('small log'), 'attachment; filename="small.log"', 'text/plain'),
      ],
    }));
    const row = await settled(id);
    expect(row.status).toBe('ticket');
    const [t] = await sql(`SELECT t.description, (SELECT json_agg(a.filename) FROM attachments a WHERE a.ticket_id = t.id) AS files FROM tickets t WHERE t.id = $1`, [row.ticket_id]);
    expect(t!.files).toEqual(['small.log']);
    expect(t!.description).toContain('"huge.log"');
    expect(t!.description).toContain('left out');
    // The confirmation does not send the reporter's own files back.
    const confirmation = await smtp.waitFor(confirmationOf(row.number));
    expect(confirmation.parsed.attachments).toEqual([]);
  });

  it('keeps a mail it cannot make a ticket of, visible with its reason, and never retries it forever', async () => {
    // No From address at all: a mail nobody can be answered at, kept as failed rather than lost.
    const id = messageId();
    await deliver(Buffer.from(`To: ${MAILBOX}\r\nSubject: nobody\r\nMessage-ID: ${id}\r\n\r\nwho sent this?\r\n`));
    const row = await settled(id);
    expect(['bounce', 'failed']).toContain(row.status);
  });
});

describe('exactly once', () => {
  it('the same mail delivered twice, and again after a restart, is one ticket', async () => {
    const id = messageId();
    const raw = mail({ from: 'twice@customer.test', subject: 'Delivered twice', id, text: 'once' });
    await deliver(raw);
    await deliver(raw);
    const row = await settled(id);
    await new Promise((r) => setTimeout(r, 1500));
    await app.stop();
    // The same database, a new process: the checkpoint and the Message-ID log survive.
    app = await startApp();
    await deliver(raw);
    const after = messageId();
    await deliver(mail({ from: 'twice@customer.test', subject: 'After restart', id: after, text: 'new' }));
    await settled(after);
    const [n] = await sql(`SELECT count(*)::int AS n FROM tickets WHERE subject = 'Delivered twice'`);
    expect(n!.n).toBe(1);
    expect((await sql(`SELECT count(*)::int AS n FROM messages WHERE body = 'once'`))[0]!.n).toBe(1);
    expect(row.status).toBe('ticket');
  });

  it('logs a mail that intake committed but the log missed (a crash in between) without a second ticket', async () => {
    const id = messageId();
    const raw = mail({ from: 'crash@customer.test', subject: 'Committed, not logged', id, text: 'x' });
    await deliver(raw);
    const first = await settled(id);
    // As if the process had died right after the commit: no log row, no thread id.
    await sql(`DELETE FROM inbound_mails WHERE message_id_header = $1`, [id]);
    await sql(`DELETE FROM mail_thread_ids WHERE message_id_header = $1`, [id]);
    const started = Date.now();
    await deliver(raw);
    const again = await settled(id);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(again).toMatchObject({ status: 'ticket', ticket_id: first.ticket_id, thread_rule: 'new' });
    expect((await sql(`SELECT count(*)::int AS n FROM tickets WHERE subject = 'Committed, not logged'`))[0]!.n).toBe(1);
    expect((await sql(`SELECT count(*)::int AS n FROM mail_thread_ids WHERE message_id_header = $1`, [id]))[0]!.n).toBe(1);
  });

  it('reads the mailbox again since the last look when UIDVALIDITY changes, and takes nothing twice', async () => {
    const id = messageId();
    await deliver(mail({ from: 'uv@customer.test', subject: 'Before renumbering', id, text: 'x' }));
    await settled(id);
    const ticketsBefore = (await sql('SELECT count(*)::int AS n FROM tickets'))[0]!.n;
    // As if the server had renumbered the mailbox: the checkpoint no longer applies.
    await sql(`UPDATE mailboxes SET uid_validity = '1' WHERE address = $1`, [MAILBOX]);
    const next = messageId();
    await deliver(mail({ from: 'uv@customer.test', subject: 'After renumbering', id: next, text: 'y' }));
    expect((await settled(next)).status).toBe('ticket');
    expect((await sql('SELECT count(*)::int AS n FROM tickets'))[0]!.n).toBe(ticketsBefore + 1);
    const deadline = Date.now() + 10_000;
    while ((await sql(`SELECT uid_validity FROM mailboxes WHERE address = $1`, [MAILBOX]))[0]!.uid_validity === '1' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await sql(`SELECT uid_validity FROM mailboxes WHERE address = $1`, [MAILBOX]))[0]!.uid_validity).not.toBe('1');
  });

  it('loses nothing when the IMAP server stops and starts again mid-run', async () => {
    const before = Array.from({ length: 3 }, () => messageId());
    for (const id of before) await deliver(mail({ from: 'outage@customer.test', subject: `before ${id}`, id, text: 'before' }));
    await imap.stop();
    await new Promise((r) => setTimeout(r, 1500));
    await imap.start();
    const after = Array.from({ length: 3 }, () => messageId());
    for (const id of after) await deliver(mail({ from: 'outage2@customer.test', subject: `after ${id}`, id, text: 'after' }));
    const rows = await Promise.all([...before, ...after].map((id) => settled(id, 60_000)));
    expect(rows.map((r) => r.status)).toEqual(Array(6).fill('ticket'));
    expect(new Set(rows.map((r) => r.ticket_id)).size).toBe(6);
  }, 90_000);
});

describe('limits', () => {
  it('records a mail over MAIL_MAX_BYTES as failed, leaves it in the mailbox, and goes on with the next', async () => {
    const huge = messageId();
    await deliver(mail({ from: 'huge@customer.test', subject: 'Huge', id: huge, parts: [textPart('see file'), filePart(Buffer.alloc(3.5 * 1024 * 1024, 1), 'attachment; filename="dump.bin"')] }));
    const next = messageId();
    await deliver(mail({ from: 'huge@customer.test', subject: 'Small', id: next, text: 'small one' }));
    expect(await settled(huge)).toMatchObject({ status: 'failed', ticket_id: null });
    expect((await settled(huge)).reason).toContain('MAIL_MAX_BYTES');
    expect((await settled(next)).status).toBe('ticket');
  });
});

describe('delivery failures', () => {
  it('a temporary SMTP failure is retried until the mail goes out', async () => {
    smtp.tempfail.set('busy@customer.test', 2);
    const id = messageId();
    await deliver(mail({ from: 'busy@customer.test', subject: 'Busy mailbox', id, text: 'hello' }));
    const { number } = await settled(id);
    const sent = await smtp.waitFor(confirmationOf(number), 20_000);
    expect(sent.envelopeTo).toEqual(['busy@customer.test']);
    expect(smtp.tempfail.get('busy@customer.test')).toBe(0);
    const [n] = await sql(`SELECT status, attempts FROM notifications WHERE ticket_id = (SELECT id FROM tickets WHERE number = $1 AND organization_id = $2)`, [number, seed.org.id]);
    expect(n).toMatchObject({ status: 'sent' });
    expect(n!.attempts).toBeGreaterThanOrEqual(3);
  });

  it('a recipient refused with 550 is marked undeliverable, and the ticket shows it', async () => {
    smtp.refuse.add('gone@customer.test');
    const id = messageId();
    await deliver(mail({ from: 'gone@customer.test', subject: 'Mailbox gone', id, text: 'hello' }));
    const { number, ticket_id } = await settled(id);
    const deadline = Date.now() + 15_000;
    let events: Array<Record<string, any>> = [];
    while (Date.now() < deadline) {
      events = await sql(`SELECT kind, changes FROM ticket_events WHERE ticket_id = $1 AND kind = 'delivery_failed'`, [ticket_id]);
      if (events.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(events[0]?.changes).toMatchObject({ address: 'gone@customer.test' });
    expect(events[0]?.changes.reason).toContain('550');
    const [identity] = await sql(`SELECT deliverable FROM reporter_identities WHERE address = 'gone@customer.test'`);
    expect(identity!.deliverable).toBe(false);
    const trail = await apiClient(app.baseUrl, seed.agent.key).get(`/tickets/${number}/events`);
    expect(trail.body.data.map((e: { kind: string }) => e.kind)).toContain('delivery_failed');
  });
});

it('stores mailbox passwords encrypted', async () => {
  const [row] = await sql(`SELECT imap_url FROM mailboxes WHERE address = $1`, [MAILBOX]);
  expect(row!.imap_url).not.toContain(imap.password);
  expect(row!.imap_url).toMatch(/:v1\./);
  const store = new MailStore(app.rt.orm);
  expect(await store.senderFacts(seed.org.id, '<nope@x>', 'nobody@x.test')).toEqual({ taken: null, recent: 0, reporterId: null, committed: null });
  void iconv;
});

describe('administration', () => {
  const cli = (args: string[]) => promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], {
    env: { ...process.env, DATABASE_URL: app.db.url, DATA_DIR: app.dataDir, APP_SECRET: 'test-secret-test-secret', LOG_LEVEL: 'silent' }, timeout: 60_000,
  });

  it('adds a mailbox with the CLI after logging in to both servers, tests it, and refuses a wrong password', async () => {
    const other = await seedOrganization(app, 'Second Mail Org');
    const bad = imap.imapUrl.replace(imap.password, 'wrong');
    await expect(cli(['mailbox', 'add', '--org', other.org.slug, '--address', 'help@second.test', '--imap', bad, '--smtp', smtp.url]))
      .rejects.toMatchObject({ stderr: expect.stringContaining('login refused') });
    const added = await cli(['mailbox', 'add', '--org', other.org.slug, '--address', 'help@second.test', '--imap', imap.imapUrl, '--smtp', smtp.url]);
    expect(JSON.parse(added.stdout)).toMatchObject({ organization: other.org.slug, address: 'help@second.test' });
    const tested = JSON.parse((await cli(['mailbox', 'test', 'help@second.test'])).stdout);
    expect(tested).toMatchObject({ imap: { ok: true }, smtp: { ok: true } });
    const listed = JSON.parse((await cli(['mailbox', 'list', '--org', other.org.slug])).stdout);
    expect(listed).toEqual([expect.objectContaining({ address: 'help@second.test', imap: expect.stringContaining(':***@') })]);
    expect(JSON.stringify(listed)).not.toContain(imap.password);
    expect(JSON.parse((await cli(['mailbox', 'remove', 'help@second.test'])).stdout)).toEqual({ removed: 'help@second.test' });
  }, 90_000);

  it("uses an organization's own wording of a mail", async () => {
    await cli(['template', 'set', '--org', seed.org.slug, '--kind', 'ticket_received', '--locale', 'de',
      '--subject', '[#{{number}}] Eingang: {{subject}}', '--body', 'Wir haben Ihre Anfrage #{{number}} erhalten. {{link}}']);
    const id = messageId();
    await deliver(mail({ from: 'klaus@customer.test', subject: 'Drucker kaputt', id, text: 'Der Drucker funktioniert nicht mehr.' }));
    const { number } = await settled(id);
    const sent = await smtp.waitFor(confirmationOf(number));
    expect(sent.parsed.subject).toBe(`[#${number}] Eingang: Drucker kaputt`);
    expect(sent.parsed.text).toContain(`Wir haben Ihre Anfrage #${number} erhalten. https://help.example.org/portal/tickets/${number}?`);
  }, 90_000);
});

describe('a mailbox defined by the environment', () => {
  it('is connected at start for the organization the environment names, and a wrong slug stops the start with a clear error', async () => {
    const envOrg = await app.directory.createOrganization('Env Org', 'env-org');
    const env = {
      APP_SECRET: 'test-secret-test-secret', MAIL_IMAP_URL: imap.imapUrl, MAIL_SMTP_URL: smtp.url, MAIL_ADDRESS: 'env@helpdesk.test',
    };
    await expect(startTestApp({ db, web: false, env: { ...env, MAIL_ORGANIZATION: 'no-such-org' } }))
      .rejects.toThrow(/MAIL_ORGANIZATION is "no-such-org", but no organization has that slug/);
    const envApp = await startTestApp({ db, web: false, env: { ...env, MAIL_ORGANIZATION: 'env-org' }, workerOptions: { email: { idleDelayMs: 100, refreshMs: 300 } } });
    try {
      const deadline = Date.now() + 15_000;
      let row: Record<string, any> | undefined;
      while (Date.now() < deadline) {
        [row] = await sql(`SELECT organization_id, imap_url, uid_validity FROM mailboxes WHERE address = 'env@helpdesk.test'`);
        if (row?.uid_validity) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(row).toMatchObject({ organization_id: envOrg.id });
      expect(row!.uid_validity).toBeTruthy();
      expect(row!.imap_url).not.toContain(imap.password);
    } finally {
      await envApp.stop();
    }
  }, 60_000);
});
