/**
 * Email intake benchmark: `npm run bench:email -- [--mails N] [--live M]`
 *
 * Fills a real IMAP mailbox (Debian's dovecot, started here on a spare port) with N mails (plain, HTML,
 * windows-1251, some with a 40 KB attachment), then measures
 * - bare: a hand-written pipeline on the same mails: imapflow fetch, mailparser, one INSERT per mail;
 * - helpdesk: the email channel taking the same backlog (parse, loop checks, threading, attachments to
 *   storage, intake job, commit, \Seen and checkpoint), and the confirmations it sends over SMTP;
 * - live: M more mails appended one by one while the reader idles: append -> ticket committed latency.
 * Needs PostgreSQL (BENCH_PG_URL or TEST_PG_URL, default postgresql://postgres@127.0.0.1:5432/test), Redis
 * (REDIS_URL, default local) and dovecot. Everything it starts is stopped at the end.
 */
import { parseArgs } from 'node:util';
import { ImapFlow } from 'imapflow';
import { simpleParser } from 'mailparser';
import pg from 'pg';
import { Mailboxes } from '../src/persistence/mailboxes.ts';
import { SecretBox } from '../src/security/secret-box.ts';
import { seedOrganization, startTestApp, type TestApp } from '../tests/support/app.ts';
import { createTestDatabase, type TestDatabase } from '../tests/support/database.ts';
import { startDovecot, type TestImapServer } from '../tests/support/dovecot.ts';
import { encodedWord, filePart, mail, messageId, textPart } from '../tests/support/mail-fixtures.ts';
import { startSmtpSink, type SmtpSink } from '../tests/support/smtp-sink.ts';

const { values: opts } = parseArgs({
  options: { mails: { type: 'string', default: '500' }, live: { type: 'string', default: '50' }, profile: { type: 'string' } },
  strict: true,
});
const total = Math.max(1, Number(opts.mails) || 500);
const live = Math.max(0, Number(opts.live) || 0);
if (process.env.BENCH_PG_URL) process.env.TEST_PG_URL = process.env.BENCH_PG_URL;

function sample(i: number): Buffer {
  const from = `sender${i}@customer.test`;
  switch (i % 4) {
    case 0: return mail({ from, subject: `Printer ${i} jammed`, id: messageId(), text: `Printer ${i} shows E42.\nPlease help.` });
    case 1: return mail({ from, subject: encodedWord(`Не работает лифт ${i}`, 'windows-1251'), id: messageId(), charset: 'windows-1251', text: 'Лифт стоит на втором этаже.' });
    case 2: return mail({ from, subject: `Screen ${i}`, id: messageId(), contentType: 'multipart/alternative', parts: [
      { headers: ['Content-Type: text/html; charset=utf-8'], body: `<p>The <b>screen</b> ${i} is black.</p><script>x()</script>` }] });
    default: return mail({ from, subject: `Logs ${i}`, id: messageId(), parts: [textPart('Logs attached.'), filePart(Buffer.alloc(40_000, i % 251), `attachment; filename="log-${i}.txt"`, 'text/plain')] });
  }
}

async function append(imap: TestImapServer, raws: Buffer[]): Promise<void> {
  const c = await imap.client();
  try {
    for (const raw of raws) await c.append('INBOX', raw);
  } finally {
    await c.logout();
  }
}

/** The baseline: what any mail-to-database pipeline has to do, and nothing more. */
async function bare(imap: TestImapServer, db: TestDatabase): Promise<number> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query('CREATE TABLE bare_mails (id serial PRIMARY KEY, message_id text UNIQUE, sender text, subject text, body text, html text, files int)');
  const c = new ImapFlow({ host: '127.0.0.1', port: imap.port, secure: false, auth: { user: imap.user, pass: imap.password }, logger: false });
  await c.connect();
  const started = performance.now();
  await c.mailboxOpen('INBOX', { readOnly: true });
  const uids = (await c.search({ all: true }, { uid: true })) || [];
  for (const uid of uids) {
    const msg = await c.fetchOne(String(uid), { uid: true, source: true }, { uid: true });
    if (!msg || !msg.source) continue;
    const p = await simpleParser(msg.source);
    await client.query('INSERT INTO bare_mails (message_id, sender, subject, body, html, files) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING',
      [p.messageId, p.from?.value[0]?.address ?? '', p.subject ?? '', p.text ?? '', typeof p.html === 'string' ? p.html : null, p.attachments.length]);
  }
  const seconds = (performance.now() - started) / 1000;
  await c.logout();
  await client.end();
  return seconds;
}

let probe: pg.Client | undefined;
/** One connection for the benchmark's own polling, so that it costs the measured process next to nothing. */
async function count(db: TestDatabase, sql: string): Promise<number> {
  if (!probe) {
    probe = new pg.Client({ connectionString: db.url });
    await probe.connect();
  }
  return Number((await probe.query(sql)).rows[0].n);
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};

/** `--profile file.cpuprofile`: a CPU profile of this process while it takes the backlog (open it in Chrome DevTools). */
async function startProfile(): Promise<{ stop(file: string): Promise<void> }> {
  const { Session } = await import('node:inspector/promises');
  const { writeFile } = await import('node:fs/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = await session.post('Profiler.stop');
      await writeFile(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

let imap: TestImapServer | undefined;
let smtp: SmtpSink | undefined;
let db: TestDatabase | undefined;
let app: TestApp | undefined;
try {
  [imap, smtp, db] = await Promise.all([startDovecot(), startSmtpSink({ parse: false }), createTestDatabase()]);
  process.stderr.write(`appending ${total} mails...\n`);
  await append(imap, Array.from({ length: total }, (_, i) => sample(i)));

  process.stderr.write('bare pipeline...\n');
  const bareSeconds = await bare(imap, db);

  process.stderr.write('helpdesk...\n');
  app = await startTestApp({
    db, web: false,
    env: { LOG_LEVEL: 'silent', MAIL_SENDER_LIMIT_PER_MINUTE: '100000', APP_SECRET: 'bench-secret-bench-secret', MAIL_POLL_MS: '1000' },
    workerOptions: { email: { idleDelayMs: 100, refreshMs: 200 } },
  });
  const seed = await seedOrganization(app, 'Bench Org');
  const profiler = opts.profile ? await startProfile() : null;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await new Mailboxes(app.rt.orm, new SecretBox(app.rt.secret)).add({ organizationId: seed.org.id, address: 'support@helpdesk.test', imapUrl: imap.imapUrl, smtpUrl: smtp.url, plusAddressing: false });
  await until(async () => (await count(db!, `SELECT count(*) AS n FROM inbound_mails WHERE status = 'ticket'`)) >= total, 600_000, 'the backlog');
  const takenSeconds = (performance.now() - started) / 1000;
  await until(async () => smtp!.mails.length >= total, 600_000, 'the confirmations');
  const confirmedSeconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  if (profiler) await profiler.stop(opts.profile!);

  const latencies: number[] = [];
  for (let i = 0; i < live; i++) {
    const id = messageId();
    const sentAt = Date.now();
    await append(imap, [mail({ from: `live${i}@customer.test`, subject: `Live ${i}`, id, text: 'live mail' })]);
    await until(async () => (await count(db!, `SELECT count(*) AS n FROM inbound_mails WHERE message_id_header = '${id}'`)) > 0, 60_000, 'a live mail');
    latencies.push(Date.now() - sentAt);
  }

  const rows = [
    ['bare: imapflow + mailparser + INSERT', total, bareSeconds, total / bareSeconds, 1],
    ['helpdesk: mail -> committed ticket', total, takenSeconds, total / takenSeconds, bareSeconds / takenSeconds],
    ['helpdesk: mail -> confirmation sent', total, confirmedSeconds, total / confirmedSeconds, bareSeconds / confirmedSeconds],
  ] as const;
  console.log(`\nemail intake, ${total} mails (plain, windows-1251, HTML, 40 KB attachment in turn), one mailbox`);
  console.log('| pipeline | mails | seconds | mails/s | speed vs bare |');
  console.log('|---|---|---|---|---|');
  for (const [name, n, s, rate, ratio] of rows) console.log(`| ${name} | ${n} | ${s.toFixed(2)} | ${rate.toFixed(0)} | ${ratio.toFixed(2)} |`);
  console.log(`\nhelpdesk process CPU while taking the backlog: ${((cpu.user + cpu.system) / 1000 / total).toFixed(2)} ms per mail`);
  if (live > 0) console.log(`live mails (appended one at a time, IMAP IDLE): append -> committed p50 ${pct(latencies, 50)} ms, p95 ${pct(latencies, 95)} ms, max ${Math.max(...latencies)} ms`);
} finally {
  await probe?.end().catch(() => undefined);
  await app?.stop().catch(() => undefined);
  await imap?.dispose().catch(() => undefined);
  await smtp?.close().catch(() => undefined);
  await db?.drop().catch(() => undefined);
}
