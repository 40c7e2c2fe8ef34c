import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { referencedStorageKeys } from '../../src/persistence/directory.ts';
import { sweepOrphanFiles } from '../../src/storage/orphans.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntakeService } from '../../src/core/intake.ts';
import { intakeEventSchema } from '../../src/core/intake-event.ts';
import { SqlIntakeStore } from '../../src/persistence/intake-store.ts';
import { apiClient, seedOrganization, startTestApp, type TestApp } from '../support/app.ts';
import { query } from '../support/database.ts';

let app: TestApp;
let a: Awaited<ReturnType<typeof seedOrganization>>;
let b: Awaited<ReturnType<typeof seedOrganization>>;

beforeAll(async () => {
  app = await startTestApp({ env: { ATTACHMENT_MAX_BYTES: '2000', ATTACHMENT_MAX_FILES: '3' } });
  a = await seedOrganization(app, 'Acme');
  b = await seedOrganization(app, 'Globex');
});
afterAll(async () => {
  await app?.stop();
});

const countRows = async (table: string) => Number((await query<{ n: string }>(app.db.url, `SELECT count(*) AS n FROM ${table}`))[0]!.n);

function form(fields: Record<string, string>, files: Array<{ name: string; content: Buffer | string; type?: string }> = []): FormData {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  for (const f of files) fd.append('file', new Blob([typeof f.content === "string" ? f.content : new Uint8Array(f.content)], { type: f.type ?? 'application/octet-stream' }), f.name);
  return fd;
}

describe('opening and reading tickets', () => {
  it('opens a ticket with JSON and answers 201 with the ticket and its number', async () => {
    const res = await apiClient(app.baseUrl, a.agent.key).post('/tickets', {
      subject: 'Лифт не работает', description: 'Застрял между 3 и 4 этажом', priority: 'urgent', deadline: '2026-12-01T17:00:00Z',
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ number: 1001, subject: 'Лифт не работает', status: 'new', priority: 'urgent', channel: 'api', deadline: '2026-12-01T17:00:00.000Z' });
    expect(res.headers.get('location')).toBe('/api/v1/tickets/1001');
    const got = await apiClient(app.baseUrl, a.agent.key).get('/tickets/1001');
    expect(got.status).toBe(200);
    expect(got.body.messages.total).toBe(1);
    expect(got.body.messages.data[0]).toMatchObject({ body: 'Застрял между 3 и 4 этажом', visibility: 'public', author: { type: 'user', id: a.agent.id } });
  });

  it('numbers tickets per organization', async () => {
    const res = await apiClient(app.baseUrl, b.agent.key).post('/tickets', { subject: 'Globex first' });
    expect(res.status).toBe(201);
    expect(res.body.number).toBe(1001);
  });

  it('opens a ticket with files, stores them with checksum and sniffed type, and serves them safely', async () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082', 'hex');
    const fd = form({ subject: 'Printer jam', description: 'see photo', priority: 'high' }, [
      { name: 'фото принтера.jpg', content: png, type: 'image/jpeg' },
      { name: 'log.txt', content: 'line 1\nстрока 2\n', type: 'text/plain' },
    ]);
    const res = await apiClient(app.baseUrl, a.agent.key).raw('POST', '/tickets', { body: fd });
    expect(res.status).toBe(201);
    const ticket = await apiClient(app.baseUrl, a.agent.key).get(`/tickets/${res.body.number}`);
    const files = ticket.body.messages.data[0].attachments;
    expect(files).toHaveLength(2);
    const photo = files.find((f: { filename: string }) => f.filename === 'фото принтера.jpg');
    expect(photo).toMatchObject({ content_type: 'image/png', size: png.length, sha256: createHash('sha256').update(png).digest('hex') });

    const download = await fetch(`${app.baseUrl}/api/v1/attachments/${photo.id}`, { headers: { authorization: `Bearer ${a.agent.key}` } });
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('image/png');
    expect(download.headers.get('x-content-type-options')).toBe('nosniff');
    expect(download.headers.get('content-disposition')).toContain("filename*=UTF-8''%D1%84%D0%BE%D1%82%D0%BE");
    expect(Buffer.from(await download.arrayBuffer()).equals(png)).toBe(true);
  });

  it('lists with total and page, filters, full-text search and sorting', async () => {
    const agent = apiClient(app.baseUrl, a.agent.key);
    for (const [subject, priority] of [['Kaffeemaschine defekt', 'low'], ['Coffee machine leaks', 'high'], ['Кофемашина течёт', 'normal']] as const) {
      expect((await agent.post('/tickets', { subject, priority })).status).toBe(201);
    }
    const page = await agent.get('/tickets?page=1&per_page=2&sort=number');
    expect(page.body).toMatchObject({ page: 1, per_page: 2, total: 5 });
    expect(page.body.data.map((t: { number: number }) => t.number)).toEqual([1001, 1002]);
    const last = await agent.get('/tickets?page=3&per_page=2&sort=number');
    expect(last.body.data.map((t: { number: number }) => t.number)).toEqual([1005]);
    const beyond = await agent.get('/tickets?page=9&per_page=2');
    expect(beyond.body).toMatchObject({ data: [], total: 5 });

    const high = await agent.get('/tickets?priority=high,urgent&sort=-priority');
    expect(high.body.data.map((t: { priority: string }) => t.priority)).toEqual(['urgent', 'high', 'high']);
    const search = await agent.get(`/tickets?q=${encodeURIComponent('кофемашина')}`);
    expect(search.body.data.map((t: { subject: string }) => t.subject)).toEqual(['Кофемашина течёт']);
    const german = await agent.get(`/tickets?q=${encodeURIComponent('Kaffeemaschine')}`);
    expect(german.body.total).toBe(1);
    expect((await agent.get('/tickets?status=closed')).body.total).toBe(0);
  });

  it('filters by a category with its whole subtree, and by assignee', async () => {
    const root = await app.directory.createCategory(a.org.id, 'Building');
    const child = await app.directory.createCategory(a.org.id, 'Lifts', root.id);
    const agent = apiClient(app.baseUrl, a.agent.key);
    const inChild = await agent.post('/tickets', { subject: 'Lift 2 noisy', category: child.id });
    expect(inChild.body.category).toEqual({ id: child.id, name: 'Lifts' });
    const byRoot = await agent.get(`/tickets?category=${root.id}`);
    expect(byRoot.body.data.map((t: { number: number }) => t.number)).toEqual([inChild.body.number]);
    await agent.patch(`/tickets/${inChild.body.number}`, { assignee: a.agent.id });
    const mine = await agent.get('/tickets?assignee=me');
    expect(mine.body.data.map((t: { number: number }) => t.number)).toEqual([inChild.body.number]);
    expect((await agent.get('/tickets?assignee=none')).body.total).toBeGreaterThan(0);
  });
});

describe('changing tickets', () => {
  it('enforces the workflow and records every change with before and after', async () => {
    const agent = apiClient(app.baseUrl, a.agent.key);
    const { body: t } = await agent.post('/tickets', { subject: 'Workflow' });
    const n = t.number;
    expect((await agent.patch(`/tickets/${n}`, { status: 'in_progress', priority: 'high' })).body).toMatchObject({ status: 'in_progress', priority: 'high' });
    expect((await agent.patch(`/tickets/${n}`, { status: 'resolved' })).status).toBe(200);
    const refused = await agent.patch(`/tickets/${n}`, { status: 'waiting' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain('allowed: open, closed');
    expect((await agent.patch(`/tickets/${n}`, { status: 'new' })).status).toBe(409);
    expect((await agent.patch(`/tickets/${n}`, { status: 'closed' })).status).toBe(200);
    expect((await agent.patch(`/tickets/${n}`, { status: 'open' })).body.status).toBe('open');

    const events = await agent.get(`/tickets/${n}/events`);
    expect(events.body.data.map((e: { kind: string }) => e.kind)).toEqual(['created', 'status_changed', 'status_changed', 'status_changed', 'status_changed']);
    expect(events.body.data[1]).toMatchObject({
      channel: 'api', actor: { type: 'user', id: a.agent.id },
      changes: { status: { from: 'new', to: 'in_progress' }, priority: { from: 'normal', to: 'high' } },
    });
    const notifications = await query(app.db.url, `SELECT kind FROM notifications n JOIN tickets t ON t.id = n.ticket_id WHERE t.number = $1 AND t.organization_id = $2`, [n, a.org.id]);
    expect(notifications.map((r) => r.kind)).toEqual(Array(4).fill('status_changed'));
  });

  it('refuses an assignee who is not staff of the organization', async () => {
    const agent = apiClient(app.baseUrl, a.agent.key);
    const res = await agent.patch('/tickets/1001', { assignee: b.agent.id });
    expect(res.status).toBe(422);
    expect(res.body.error.field).toBe('assignee');
    expect((await agent.patch('/tickets/1001', { assignee: a.customer.id })).status).toBe(422);
  });

  it('adds public replies and internal notes, with files; customers never see the notes', async () => {
    const customer = apiClient(app.baseUrl, a.customer.key);
    const agent = apiClient(app.baseUrl, a.agent.key);
    const { body: t } = await customer.post('/tickets', { subject: 'My screen is black' });
    expect(t.reporter.name).toContain('customer');
    const reply = await agent.post(`/tickets/${t.number}/comments`, { body: 'Is it plugged in?' });
    expect(reply.status).toBe(201);
    expect(reply.body).toMatchObject({ ticket: t.number, visibility: 'public', body: 'Is it plugged in?' });
    const note = await agent.raw('POST', `/tickets/${t.number}/comments`, { body: form({ body: 'Customer is VIP', internal: 'true' }, [{ name: 'notes.txt', content: 'secret' }]) });
    expect(note.status).toBe(201);
    expect(note.body.visibility).toBe('internal');

    const seenByCustomer = await customer.get(`/tickets/${t.number}`);
    expect(seenByCustomer.body.messages.data.map((m: { body: string }) => m.body)).toEqual(['', 'Is it plugged in?']);
    const noteFile = note.body.attachments[0].id;
    expect((await customer.get(`/attachments/${noteFile}`)).status).toBe(404);
    expect((await agent.get(`/attachments/${noteFile}`)).status).toBe(200);
    expect((await customer.post(`/tickets/${t.number}/comments`, { body: 'sneaky', internal: true })).status).toBe(403);

    const notified = await query(app.db.url, `SELECT kind FROM notifications WHERE ticket_id = $1`, [t.id]);
    expect(notified.map((r) => r.kind)).toEqual(['agent_replied']);
  });

  it('puts a waiting ticket back to open when its reporter replies', async () => {
    const customer = apiClient(app.baseUrl, a.customer.key);
    const agent = apiClient(app.baseUrl, a.agent.key);
    const { body: t } = await customer.post('/tickets', { subject: 'VPN drops' });
    await agent.patch(`/tickets/${t.number}`, { status: 'waiting' });
    expect((await customer.post(`/tickets/${t.number}/comments`, { body: 'Still happening' })).status).toBe(201);
    expect((await agent.get(`/tickets/${t.number}`)).body.status).toBe('open');
  });
});

describe('customers', () => {
  it('see only their own tickets', async () => {
    const customer = apiClient(app.baseUrl, a.customer.key);
    const all = (await customer.get('/tickets?per_page=100')).body;
    expect(all.total).toBeGreaterThan(0);
    expect(all.data.every((t: { reporter: { name: string } }) => t.reporter.name.includes('customer'))).toBe(true);
    expect((await customer.get('/tickets/1001')).status).toBe(404);
    expect((await customer.post('/tickets/1001/comments', { body: 'hi' })).status).toBe(404);
    expect((await customer.patch('/tickets/1001', { status: 'closed' })).status).toBe(404);
  });

  it('cannot set a deadline, nor reopen a ticket that is being worked on', async () => {
    const customer = apiClient(app.baseUrl, a.customer.key);
    expect((await customer.post('/tickets', { subject: 'x', deadline: '2027-01-01T00:00:00Z' })).status).toBe(403);
    const { body: t } = await customer.post('/tickets', { subject: 'Keyboard sticky' });
    await apiClient(app.baseUrl, a.agent.key).patch(`/tickets/${t.number}`, { status: 'in_progress' });
    expect((await customer.patch(`/tickets/${t.number}`, { status: 'open' })).status).toBe(403);
    await apiClient(app.baseUrl, a.agent.key).patch(`/tickets/${t.number}`, { status: 'resolved' });
    expect((await customer.patch(`/tickets/${t.number}`, { status: 'open' })).body.status).toBe('open');
  });

  it('cannot assign, change priority or read the audit trail, but can close their ticket', async () => {
    const customer = apiClient(app.baseUrl, a.customer.key);
    const { body: t } = await customer.post('/tickets', { subject: 'Mouse broken' });
    const assign = await customer.patch(`/tickets/${t.number}`, { assignee: a.agent.id });
    expect(assign.status).toBe(403);
    expect(assign.body.error.message).toBe('Customers cannot change the assignee.');
    expect((await customer.patch(`/tickets/${t.number}`, { priority: 'urgent' })).status).toBe(403);
    expect((await customer.post('/tickets', { subject: 'x', priority: 'urgent' })).status).toBe(403);
    expect((await customer.get(`/tickets/${t.number}/events`)).status).toBe(403);
    expect((await customer.get('/users')).status).toBe(403);
    expect((await customer.patch(`/tickets/${t.number}`, { status: 'closed' })).body.status).toBe('closed');
  });
});

describe('one person, one reporter', () => {
  it('gives a customer account the history of the reporter with the same email, and keeps using that reporter', async () => {
    const intake = new IntakeService(new SqlIntakeStore(app.rt.orm));
    const emailed = await intake.process(intakeEventSchema.parse({
      organizationId: a.org.id, channel: 'email', externalId: '<first@mail.test>',
      sender: { kind: 'email', address: 'Late.Comer@acme.test', name: 'Late Comer' },
      subject: 'Written by email', text: 'before I had an account', receivedAt: new Date().toISOString(),
    }));
    const person = await a.person('customer', 'late.comer@acme.test');
    const customer = apiClient(app.baseUrl, person.key);
    const mine = await customer.get('/tickets');
    expect(mine.body.data.map((t: { number: number }) => t.number)).toEqual([emailed.ticketNumber]);
    const opened = await customer.post('/tickets', { subject: 'Now through the portal' });
    expect(opened.body.reporter.id).toBe(mine.body.data[0].reporter.id);
    expect((await customer.get('/tickets')).body.total).toBe(2);
  });
});

describe('tenant isolation', () => {
  it('shows nothing of one organization to another', async () => {
    const other = apiClient(app.baseUrl, b.admin.key);
    const { body: list } = await other.get('/tickets?per_page=100');
    expect(list.total).toBe(1);
    expect(list.data[0].subject).toBe('Globex first');
    const aTicket = (await apiClient(app.baseUrl, a.agent.key).get('/tickets/1002')).body;
    expect((await other.get('/tickets/1002')).status).toBe(404);
    expect((await other.get('/tickets/1003/events')).status).toBe(404);
    expect((await other.patch('/tickets/1002', { status: 'closed' })).status).toBe(404);
    expect((await other.post('/tickets/1002/comments', { body: 'hello' })).status).toBe(404);
    expect((await other.get(`/attachments/${aTicket.messages.data[0].attachments[0].id}`)).status).toBe(404);
    const users = (await other.get('/users')).body.data.map((u: { email: string }) => u.email);
    expect(users.every((e: string) => e.endsWith('globex.test'))).toBe(true);
    expect((await apiClient(app.baseUrl, a.agent.key).get('/tickets/1002')).body.subject).toBe('Printer jam');
  });

  it('refuses references to another organization\'s category', async () => {
    const foreign = await app.directory.createCategory(b.org.id, 'Globex only');
    const res = await apiClient(app.baseUrl, a.agent.key).post('/tickets', { subject: 'x', category: foreign.id });
    expect(res.status).toBe(422);
    expect(res.body.error.field).toBe('category');
  });
});

describe('bad input changes nothing', () => {
  it('answers malformed JSON with 400', async () => {
    const res = await apiClient(app.baseUrl, a.agent.key).raw('POST', '/tickets', { body: '{"subject": ', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('malformed_json');
  });

  it('answers a missing or invalid field with 422 naming it', async () => {
    const agent = apiClient(app.baseUrl, a.agent.key);
    const cases: Array<[unknown, string]> = [
      [{}, 'subject'],
      [{ subject: '   ' }, 'subject'],
      [{ subject: 'x', priority: 'meh' }, 'priority'],
      [{ subject: 'x', deadline: 'tomorrow' }, 'deadline'],
      [{ subject: 'x', category: 'not-a-uuid' }, 'category'],
      [{ subject: 'x', colour: 'red' }, 'colour'],
    ];
    for (const [body, field] of cases) {
      const res = await agent.post('/tickets', body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.error.field, JSON.stringify(body)).toBe(field);
      expect(res.body.error.message).toContain(field);
    }
    expect((await agent.patch('/tickets/1001', {})).status).toBe(422);
    expect((await agent.get('/tickets?per_page=1000')).body.error.field).toBe('per_page');
    expect((await agent.get('/tickets?sort=colour')).body.error.field).toBe('sort');
    expect((await agent.get('/tickets/abc')).status).toBe(422);
  });

  it('says which query parameter or path part is wrong, and how to write it', async () => {
    const agent = apiClient(app.baseUrl, a.agent.key);
    const typo = await agent.get('/tickets?prioirty=high');
    expect(typo.status).toBe(422);
    expect(typo.body.error.message).toContain('prioirty');
    const number = await agent.get('/tickets/abc');
    expect(number.body.error).toMatchObject({ field: 'number', message: 'number: must be a ticket number, like 1042' });
    const flag = await agent.raw('POST', '/tickets/1001/comments', { body: form({ body: 'x', internal: 'yes' }) });
    expect(flag.body.error.message).toBe('internal: must be true or false');
    const repeated = await agent.get('/tickets?status=new&status=open&per_page=1');
    expect(repeated.status).toBe(200);
  });

  it('drops NUL characters instead of failing on them, and ignores an empty file input', async () => {
    const agent = apiClient(app.baseUrl, a.agent.key);
    const res = await agent.raw('POST', '/tickets', { body: form({ subject: 'Null\u0000byte', description: 'a\u0000b', file: '' }) });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ subject: 'Nullbyte', description: 'ab' });
  });

  it('takes half an emoji (a lone surrogate in JSON) as U+FFFD, and a long text cut next to an emoji', async () => {
    const agent = apiClient(app.baseUrl, a.agent.key);
    // JSON.stringify writes a lone surrogate as the escape \ud83d, which is how a client sends one.
    const res = await agent.post('/tickets', { subject: 'Half \ud83d emoji', description: 'x' });
    expect(res.status, res.text).toBe(201);
    expect(res.body.subject).toBe('Half \uFFFD emoji');
    const comment = await agent.post(`/tickets/${res.body.number}/comments`, { body: 'Still \udc00 half' });
    expect(comment.status, comment.text).toBe(201);
    expect(JSON.stringify(comment.body)).toContain('Still \uFFFD half');
    // An answer's notification keeps its first 4000 units: here the cut falls inside the emoji.
    const reply = await agent.post(`/tickets/${res.body.number}/comments`, { body: `${'x'.repeat(3999)}😀 and more` });
    expect(reply.status, reply.text).toBe(201);
    // A body nested deeper than any handler recurses is refused or taken, never a crash.
    const deep = await agent.raw('POST', '/tickets', { body: `{"subject":"deep","x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`, headers: { 'content-type': 'application/json' } });
    expect([201, 400, 413, 422]).toContain(deep.status);
  });

  it('refuses values Postgres could not take with a 422, not a 500', async () => {
    const agent = apiClient(app.baseUrl, a.agent.key);
    expect((await agent.get('/tickets?sort=constructor')).status).toBe(422);
    const longEmail = await agent.post('/tickets', { subject: 'x', reporter: { email: `${'a'.repeat(330)}@example.com` } });
    expect(longEmail.status).toBe(422);
    expect(longEmail.body.error.field).toBe('reporter.email');
    expect((await agent.post('/tickets', { subject: 'x', deadline: '0000-01-01T00:00:00Z' })).body.error.field).toBe('deadline');
    expect((await agent.post('/tickets', { subject: 'x', reporter: { phone: '(((((' } })).status).toBe(422);
  });

  it('answers unknown, missing and revoked keys with 401', async () => {
    expect((await apiClient(app.baseUrl).get('/tickets')).status).toBe(401);
    expect((await apiClient(app.baseUrl, 'hd_nope').get('/tickets')).status).toBe(401);
    const extra = await a.person('agent', 'leaver@acme.test');
    const leaver = apiClient(app.baseUrl, extra.key);
    expect((await leaver.get('/tickets')).status).toBe(200);
    await app.keys.revoke(extra.key.slice(0, 10));
    const res = await leaver.get('/tickets');
    expect(res.status).toBe(401);
    expect(res.body.error.message).toContain('revoked');
  });

  it('stops accepting a key at once when the CLI of another process revokes it', async () => {
    const extra = await a.person('agent', 'other-leaver@acme.test');
    const client = apiClient(app.baseUrl, extra.key);
    expect((await client.get('/tickets')).status).toBe(200);
    const env = { ...process.env, DATABASE_URL: app.db.url, REDIS_URL: app.rt.redisUrl, QUEUE_PREFIX: app.config.queuePrefix, LOG_LEVEL: 'silent' };
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'apikey', 'revoke', extra.key.slice(0, 10)], { env, timeout: 30_000 });
    expect(JSON.parse(stdout)).toMatchObject({ revokedAt: expect.any(String) });
    expect((await client.get('/tickets')).status).toBe(401);
  });

  it('answers a file over the limit with 413 and writes no ticket or message', async () => {
    const before = [await countRows('tickets'), await countRows('messages'), await countRows('attachments')];
    const big = Buffer.alloc(5000, 'a');
    const res = await apiClient(app.baseUrl, a.agent.key).raw('POST', '/tickets', { body: form({ subject: 'Too big' }, [{ name: 'small.txt', content: 'ok' }, { name: 'big.bin', content: big }]) });
    expect(res.status).toBe(413);
    expect(res.body.error.message).toContain('big.bin');
    const comment = await apiClient(app.baseUrl, a.agent.key).raw('POST', '/tickets/1001/comments', { body: form({ body: 'x' }, [{ name: 'big.bin', content: big }]) });
    expect(comment.status).toBe(413);
    const tooMany = await apiClient(app.baseUrl, a.agent.key).raw('POST', '/tickets', {
      body: form({ subject: 'many' }, [1, 2, 3, 4].map((i) => ({ name: `f${i}.txt`, content: `file ${i}` }))),
    });
    expect(tooMany.status).toBe(413);
    expect([await countRows('tickets'), await countRows('messages'), await countRows('attachments')]).toEqual(before);
  });

  it('leaves files of refused uploads for the sweep, which keeps every file an attachment uses', async () => {
    const root = path.join(app.dataDir, 'attachments');
    const orphan = await apiClient(app.baseUrl, a.customer.key).raw('POST', '/tickets', {
      body: form({ subject: 'x', priority: 'urgent' }, [{ name: 'orphan.txt', content: 'refused upload' }]),
    });
    expect(orphan.status).toBe(403);
    const result = await sweepOrphanFiles(root, (keys) => referencedStorageKeys(app.rt.orm, keys), 0);
    expect(result.removed).toBeGreaterThanOrEqual(1);
    expect(result.kept).toBeGreaterThanOrEqual(3);
    const { body: t } = await apiClient(app.baseUrl, a.agent.key).get('/tickets/1002');
    for (const file of t.messages.data[0].attachments) {
      expect((await apiClient(app.baseUrl, a.agent.key).get(`/attachments/${file.id}`)).status).toBe(200);
    }
  });

  it('answers an unknown route with a JSON 404', async () => {
    const res = await apiClient(app.baseUrl, a.agent.key).get('/nothing-here');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });
});

describe('idempotency and waiting', () => {
  it('returns the first result for a repeated Idempotency-Key, and refuses the key with another body', async () => {
    const agent = apiClient(app.baseUrl, a.agent.key);
    const key = { 'Idempotency-Key': 'order-7731' };
    const first = await agent.post('/tickets', { subject: 'Once only' }, key);
    const again = await agent.post('/tickets', { subject: 'Once only' }, key);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body.number).toBe(first.body.number);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const rows = await query<{ n: string }>(app.db.url, `SELECT count(*) AS n FROM tickets WHERE subject = 'Once only'`);
    expect(rows[0]?.n).toBe('1');
    const reused = await agent.post('/tickets', { subject: 'Something else' }, key);
    expect(reused.status).toBe(422);
    expect(reused.body.error.code).toBe('idempotency_key_reused');
    // The key belongs to its user: another user's same key is a new request.
    expect((await apiClient(app.baseUrl, a.admin.key).post('/tickets', { subject: 'Once only' }, key)).body.number).not.toBe(first.body.number);
  });

  it('refuses a reused Idempotency-Key with another body even while the first is still queued', async () => {
    const agent = apiClient(app.baseUrl, a.agent.key);
    const key = { 'Idempotency-Key': 'queued-twice', Prefer: 'respond-async' };
    expect((await agent.post('/tickets', { subject: 'First body' }, key)).status).toBe(202);
    const second = await agent.post('/tickets', { subject: 'Second body' }, key);
    expect(second.status).toBe(422);
    expect(second.body.error.code).toBe('idempotency_key_reused');
  });

  it('answers 202 when the commit takes longer than INTAKE_WAIT_MS, and the link shows it pending', async () => {
    // A web process whose queue has no worker yet: nothing can commit.
    const webOnly = await startTestApp({ db: app.db, workers: false, env: { INTAKE_WAIT_MS: '300' } });
    try {
      const started = Date.now();
      const res = await apiClient(webOnly.baseUrl, a.agent.key).post('/tickets', { subject: 'Slow commit' });
      expect(res.status).toBe(202);
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      expect(Date.now() - started).toBeLessThan(3000);
      const link = await fetch(`${webOnly.baseUrl}${res.headers.get('location')}`, { headers: { authorization: `Bearer ${a.agent.key}` } });
      expect(link.status).toBe(202);
      expect(await link.json()).toMatchObject({ status: 'pending', state: 'waiting' });
    } finally {
      await webOnly.stop();
    }
  });

  it('answers 202 with a link when asked to respond async, and the link gives the result', async () => {
    const agent = apiClient(app.baseUrl, a.agent.key);
    const res = await agent.post('/tickets', { subject: 'Later please' }, { Prefer: 'respond-async' });
    expect(res.status).toBe(202);
    const link = res.headers.get('location')!;
    expect(link).toBe(res.body.request);
    let result;
    for (let i = 0; i < 50; i++) {
      result = await fetch(`${app.baseUrl}${link}`, { headers: { authorization: `Bearer ${a.agent.key}` } });
      if (result.status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(result!.status).toBe(200);
    const body = await result!.json();
    expect(body).toMatchObject({ status: 'committed', ticket: { subject: 'Later please' } });
    const elsewhere = await fetch(`${app.baseUrl}${link}`, { headers: { authorization: `Bearer ${b.agent.key}` } });
    expect(elsewhere.status).toBe(404);
    const colleague = await fetch(`${app.baseUrl}${link}`, { headers: { authorization: `Bearer ${a.customer.key}` } });
    expect(colleague.status).toBe(404);
  });
});

describe('discovery and health', () => {
  it('describes the API in OpenAPI', async () => {
    const res = await fetch(`${app.baseUrl}/api/v1/openapi.json`);
    const doc = await res.json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/tickets', '/tickets/{number}', '/tickets/{number}/comments', '/tickets/{number}/events', '/attachments/{id}', '/users']));
    expect(doc.paths['/tickets'].post.requestBody.content['application/json'].schema.required).toContain('subject');
    const refs: string[] = JSON.stringify(doc).match(/#\/components\/schemas\/\w+/g) ?? [];
    expect(refs.filter((r) => !doc.components.schemas[r.split('/').pop()!])).toEqual([]);
  });

  it('reports liveness and readiness', async () => {
    expect((await fetch(`${app.baseUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${app.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', database: 'up', redis: 'up' });
  });

  it('lists the organization\'s users for staff', async () => {
    const res = await apiClient(app.baseUrl, a.agent.key).get('/users');
    expect(res.body.data.map((u: { role: string }) => u.role).sort()).toEqual(expect.arrayContaining(['admin', 'agent', 'customer']));
    expect(res.body.data[0]).not.toHaveProperty('token_hash');
  });
});
