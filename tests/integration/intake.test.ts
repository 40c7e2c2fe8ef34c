import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IntakeEventInput } from '../../src/core/intake-event.ts';
import { IntakeService } from '../../src/core/intake.ts';
import { intakeEventSchema } from '../../src/core/intake-event.ts';
import { DeliveryError, type NotificationSender, type OutgoingNotification } from '../../src/core/ports.ts';
import { SqlIntakeStore } from '../../src/persistence/intake-store.ts';
import { IntakeProducer } from '../../src/workers/intake-producer.ts';
import { v7 as uuidv7 } from 'uuid';
import { OpenTicketBatcher, type OpenTicketRow } from '../../src/persistence/open-ticket-batch.ts';
import { ticketNumberSequence } from '../../src/persistence/ticket-numbers.ts';
import { QueueEvents } from 'bullmq';
import { createRedis } from '../../src/workers/redis.ts';
import { QUEUES } from '../../src/workers/queues.ts';
import { seedOrganization, startTestApp, type TestApp } from '../support/app.ts';
import { query } from '../support/database.ts';

let app: TestApp;
let seed: Awaited<ReturnType<typeof seedOrganization>>;
let producer: IntakeProducer;
let events: QueueEvents;
const sent: Array<{ kind: string; address: string; notification: OutgoingNotification }> = [];

/** A sender that records what it was asked to send; addresses ending in "bounce" can never be reached. */
function recordingSender(kind: 'email' | 'telegram'): NotificationSender {
  return {
    kind,
    async send(notification, address) {
      if (address.endsWith('bounce')) throw new DeliveryError('mailbox does not exist', 'undeliverable');
      sent.push({ kind, address, notification });
      return {};
    },
  };
}

beforeAll(async () => {
  // The routing of notifications is tested with senders of its own; the real email channel stays off.
  app = await startTestApp({ web: false, env: { JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '20' }, workerOptions: { email: false, telegram: false } });
  app.rt.senders.register(recordingSender('email'));
  app.rt.senders.register(recordingSender('telegram'));
  // A channel that is down for good: every try fails with an error worth retrying.
  app.rt.senders.register({ kind: 'slack', async send() { throw new Error('slack is down'); } });
  seed = await seedOrganization(app);
  const redis = createRedis(app.rt.redisUrl, 'blocking', 'test-events');
  events = new QueueEvents(QUEUES.intake, { connection: redis, prefix: app.config.queuePrefix });
  await events.waitUntilReady();
  producer = new IntakeProducer(app.rt.intakeQueue, events, app.config);
});
afterAll(async () => {
  await events?.close();
  await app?.stop();
});

const emailEvent = (externalId: string, over: Partial<IntakeEventInput> = {}): IntakeEventInput => ({
  organizationId: seed.org.id,
  channel: 'email',
  externalId,
  sender: { kind: 'email', address: 'Reporter@Example.com', name: 'Rita Reporter' },
  subject: 'Heating is off',
  text: 'Room 204 is cold',
  receivedAt: new Date().toISOString(),
  ...over,
});

const count = async (sql: string, params: unknown[] = []) => Number((await query<{ n: string }>(app.db.url, sql, params))[0]!.n);

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the same intake event delivered twice', () => {
  it('makes one ticket and one message, even after BullMQ forgot the first job', async () => {
    const first = await producer.submitAndWait(emailEvent('<m1@example.com>'), 10_000);
    expect(first.state).toBe('committed');
    // BullMQ dedupes only while it keeps the job: remove it, as removeOnComplete eventually does.
    await (await Job.fromId(app.rt.intakeQueue, first.jobId))!.remove();
    const second = await producer.submitAndWait(emailEvent('<m1@example.com>'), 10_000);
    expect(second.state).toBe('committed');
    if (first.state !== 'committed' || second.state !== 'committed') return;
    expect(second.outcome).toMatchObject({ ticketId: first.outcome.ticketId, messageId: first.outcome.messageId, created: false });
    expect(await count(`SELECT count(*) AS n FROM tickets WHERE organization_id = $1`, [seed.org.id])).toBe(1);
    expect(await count(`SELECT count(*) AS n FROM messages WHERE organization_id = $1`, [seed.org.id])).toBe(1);
  });

  it('makes one ticket when several workers race on the same event', async () => {
    const service = new IntakeService(new SqlIntakeStore(app.rt.orm));
    const event = intakeEventSchema.parse(emailEvent('<race@example.com>', { subject: 'Race' }));
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => service.process(event).catch((e: Error) => e)));
    const done = outcomes.filter((o): o is Exclude<typeof o, Error> => !(o instanceof Error));
    expect(done.length).toBeGreaterThan(0);
    expect(new Set(done.map((o) => o.ticketId)).size).toBe(1);
    expect(done.filter((o) => o.created)).toHaveLength(1);
    expect(await count(`SELECT count(*) AS n FROM tickets WHERE subject = 'Race'`)).toBe(1);
  });

  it('adds one message to an existing ticket, and the reporter is recognized whatever the address case', async () => {
    const [{ number }] = await query<{ number: number }>(app.db.url, `SELECT number FROM tickets WHERE subject = 'Heating is off'`) as [{ number: number }];
    const reply = emailEvent('<m2@example.com>', { ticketNumber: number, sender: { kind: 'email', address: 'reporter@example.COM' }, text: 'Still cold' });
    const results = await Promise.all([producer.submitAndWait(reply, 10_000), producer.submitAndWait(reply, 10_000)]);
    expect(results.map((r) => r.state)).toEqual(['committed', 'committed']);
    expect(await count(`SELECT count(*) AS n FROM messages WHERE body = 'Still cold'`)).toBe(1);
    expect(await count(`SELECT count(*) AS n FROM reporters WHERE organization_id = $1`, [seed.org.id])).toBe(1);
  });
});

describe('new tickets written together', () => {
  it('share one statement, and a ticket the database refuses fails alone', async () => {
    const batcher = new OpenTicketBatcher(app.rt.orm);
    const [reporter] = await query<{ id: string }>(app.db.url, `SELECT id FROM reporters WHERE organization_id = $1 LIMIT 1`, [seed.org.id]);
    const row = (subject: string, reporterId: string): OpenTicketRow => ({
      receipt_id: uuidv7(), organization_id: seed.org.id, channel: 'web', external_id: `batch-${subject}`, request_hash: null,
      ticket_id: uuidv7(), message_id: uuidv7(), seq: ticketNumberSequence(seed.org.id), subject, body: 'x', status: 'new',
      priority: 'normal', deadline: null, category_id: null, service_id: null, object_id: null, assignee_id: null, reporter_id: reporterId,
      author_user_id: null, author_reporter_id: reporterId, visibility: 'public', body_html: null, metadata: {}, follow_up_of: null,
      attachments: [], changes: {}, notifications: [],
    });
    const results = await Promise.allSettled([
      batcher.open(row('batch one', reporter!.id)),
      batcher.open(row('batch bad', uuidv7())),
      batcher.open(row('batch two', reporter!.id)),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const numbers = results.flatMap((r) => (r.status === 'fulfilled' && r.value ? [r.value.number as number] : []));
    expect(new Set(numbers).size).toBe(2);
    expect(await count(`SELECT count(*) AS n FROM tickets WHERE subject LIKE 'batch %'`)).toBe(2);
    // The same rows again are receipts that exist: nothing new, no error.
    expect(await batcher.open(row('batch one', reporter!.id))).toBeNull();
  });
});

describe('jobs that can never succeed', () => {
  it('fail at once with their reason kept, and can be listed and replayed from the CLI', async () => {
    const result = await producer.submitAndWait(emailEvent('<lost@example.com>', { ticketNumber: 999_999 }), 10_000);
    expect(result).toMatchObject({ state: 'failed' });
    if (result.state !== 'failed') return;
    expect(result.reason).toBe('not_found: Ticket #999999 does not exist.');
    const job = await Job.fromId(app.rt.intakeQueue, result.jobId);
    expect(job!.attemptsMade).toBe(1);

    const env = { ...process.env, DATABASE_URL: app.db.url, REDIS_URL: app.rt.redisUrl, QUEUE_PREFIX: app.config.queuePrefix, LOG_LEVEL: 'silent' };
    const cli = (...args: string[]) => promisify(execFile)('npx', ['tsx', 'src/cli/index.ts', ...args], { env, timeout: 30_000 });
    const listed = JSON.parse((await cli('jobs', 'failed')).stdout) as Array<{ id: string; failedReason: string }>;
    expect(listed).toEqual([expect.objectContaining({ id: result.jobId, failedReason: 'not_found: Ticket #999999 does not exist.' })]);
    const retried = JSON.parse((await cli('jobs', 'retry', result.jobId)).stdout);
    expect(retried).toEqual({ retried: [result.jobId] });
    const state = await until(() => job!.getState(), (s) => s === 'failed' || s === 'completed');
    expect(state).toBe('failed');
    expect((await Job.fromId(app.rt.intakeQueue, result.jobId))!.attemptsMade).toBeGreaterThanOrEqual(1);
  });

  it('fail at once when the database refuses the data itself (an organization that is gone)', async () => {
    const result = await producer.submitAndWait(emailEvent('<orphan@example.com>', { organizationId: '01234567-89ab-7def-8123-456789abcdef' }), 10_000);
    expect(result).toMatchObject({ state: 'failed' });
    if (result.state !== 'failed') return;
    expect(result.reason).toMatch(/^(not_found|invalid): /);
    expect((await Job.fromId(app.rt.intakeQueue, result.jobId))!.attemptsMade).toBe(1);
  });

  it('refuses an event that does not match the intake schema, without retrying', async () => {
    const job = await app.rt.intakeQueue.add('intake', { event: { organizationId: 'nope' } as never }, { attempts: 5 });
    const state = await until(() => job.getState(), (s) => s === 'failed');
    expect(state).toBe('failed');
    const failed = await Job.fromId(app.rt.intakeQueue, job.id!);
    expect(failed!.failedReason).toMatch(/^invalid intake event: organizationId/);
    expect(failed!.attemptsMade).toBe(1);
  });
});

describe('notifications', () => {
  it('acknowledge a new ticket on the channel it came from', async () => {
    sent.length = 0;
    const result = await producer.submitAndWait(emailEvent('<ack@example.com>', { sender: { kind: 'email', address: 'ack@example.com' }, subject: 'Ack me' }), 10_000);
    expect(result.state).toBe('committed');
    await until(async () => sent.length, (n) => n > 0);
    expect(sent).toEqual([expect.objectContaining({ kind: 'email', address: 'ack@example.com', notification: expect.objectContaining({ kind: 'ticket_received' }) })]);
    const rows = await until(() => query(app.db.url, `SELECT status, delivered_kind FROM notifications WHERE kind = 'ticket_received' AND payload->>'subject' = 'Ack me'`), (r) => r[0]?.status === 'sent');
    expect(rows).toEqual([{ status: 'sent', delivered_kind: 'email' }]);
  });

  it('fall back to another identity of the reporter when the preferred one cannot deliver, and mark it', async () => {
    sent.length = 0;
    // One person, two identities: a telegram chat and an email address that bounces.
    const [reporter] = await query<{ id: string }>(app.db.url, `INSERT INTO reporters (id, organization_id, name) VALUES (gen_random_uuid(), $1, 'Two ways') RETURNING id`, [seed.org.id]);
    await query(app.db.url, `INSERT INTO reporter_identities (id, organization_id, reporter_id, kind, address, created_at) VALUES
      (gen_random_uuid(), $1, $2, 'email', 'two@bounce', now() - interval '1 minute'), (gen_random_uuid(), $1, $2, 'telegram', '4242', now())`, [seed.org.id, reporter!.id]);
    const result = await producer.submitAndWait(emailEvent('<two@example.com>', { sender: { kind: 'email', address: 'two@bounce' }, subject: 'Two ways' }), 10_000);
    expect(result.state).toBe('committed');
    const [row] = await until(() => query(app.db.url, `SELECT status, delivered_kind, delivered_address FROM notifications WHERE payload->>'subject' = 'Two ways'`), (r) => r[0]?.status !== 'pending');
    expect(row).toEqual({ status: 'sent', delivered_kind: 'telegram', delivered_address: '4242' });
    const [identity] = await query(app.db.url, `SELECT deliverable, undeliverable_reason FROM reporter_identities WHERE address = 'two@bounce'`);
    expect(identity).toEqual({ deliverable: false, undeliverable_reason: 'mailbox does not exist' });
  });

  it('are marked failed, not left pending, when their channel fails on every try', async () => {
    const result = await producer.submitAndWait(emailEvent('<slack@example.com>', { channel: 'slack', sender: { kind: 'slack', address: 'U123' }, subject: 'Via Slack' }), 10_000);
    expect(result.state).toBe('committed');
    const [row] = await until(() => query(app.db.url, `SELECT status, attempts, last_error FROM notifications WHERE payload->>'subject' = 'Via Slack'`), (r) => r[0]?.status !== 'pending', 15_000);
    expect(row).toMatchObject({ status: 'failed', last_error: 'slack is down' });
  });

  it('are recorded when no channel can reach the recipient yet', async () => {
    const result = await producer.submitAndWait(emailEvent('<phone@example.com>', { channel: 'web', sender: { kind: 'phone', address: '+49 30 1234567' }, subject: 'Call me' }), 10_000);
    expect(result.state).toBe('committed');
    const [row] = await until(() => query(app.db.url, `SELECT status FROM notifications WHERE payload->>'subject' = 'Call me'`), (r) => r[0]?.status !== 'pending');
    expect(row).toEqual({ status: 'recorded' });
    const [identity] = await query(app.db.url, `SELECT address FROM reporter_identities WHERE kind = 'phone'`);
    expect(identity).toEqual({ address: '+49301234567' });
  });
});
