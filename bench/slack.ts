/**
 * Slack intake benchmark: `npm run bench:slack -- [--replies N] [--tickets K] [--concurrency C]`
 *
 * Agents answer K tickets in their Slack threads: N signed `message` event callbacks (thread replies by an
 * agent), C at a time, posted at /slack/events, and measures
 * - bare: a hand-written Events API endpoint on the same machine: an HTTP server that checks the signature
 *   (HMAC-SHA256 of the raw body), parses the event and INSERTs it (one row per event, no queue);
 * - helpdesk: the Slack channel: signature match and Bolt's receiver (ack), the inbound queue, the worker
 *   (users.info once per agent, intake job and commit), and the reaction that shows the reply's outcome
 *   under it, from the (fake) Web API.
 * The per-channel pace is set to 0 here (Slack's own limit would make this a measure of Slack's limit).
 * Needs PostgreSQL (BENCH_PG_URL or TEST_PG_URL) and Redis (REDIS_URL). Everything it starts is stopped.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { connectWorkspace } from '../src/channels/slack/index.ts';
import { SlackStore } from '../src/persistence/slack-store.ts';
import { SecretBox } from '../src/security/secret-box.ts';
import { seedOrganization, startTestApp, type TestApp } from '../tests/support/app.ts';
import { createTestDatabase, type TestDatabase } from '../tests/support/database.ts';
import { startFakeSlack, type FakeSlack } from '../tests/support/fake-slack.ts';
import { eventCallback, sign, threadReply, type Team } from '../tests/support/slack-payloads.ts';
import { httpLoad } from './http-load.ts';

const { values: opts } = parseArgs({ options: {
  replies: { type: 'string', default: '1000' }, tickets: { type: 'string', default: '50' }, concurrency: { type: 'string', default: '32' },
}, strict: true });
const total = Math.max(1, Number(opts.replies) || 1000);
const ticketCount = Math.max(1, Number(opts.tickets) || 50);
const concurrency = Math.max(1, Number(opts.concurrency) || 32);
if (process.env.BENCH_PG_URL) process.env.TEST_PG_URL = process.env.BENCH_PG_URL;

const team: Team = { teamId: 'T0BENCH', secret: '00112233445566778899aabbccddeeff' };
const load = httpLoad(concurrency);
/** Signed as Slack signs, at the moment it is sent. */
const drive = (url: string, bodies: string[]) => load.drive(bodies, (body) => {
  const timestamp = Math.floor(Date.now() / 1000);
  return load.post(url, body, { 'content-type': 'application/json', 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': sign(team.secret, timestamp, body) });
});

async function bare(db: TestDatabase, bodies: string[]): Promise<number> {
  const pool = new pg.Pool({ connectionString: db.url, max: 10 });
  await pool.query('CREATE TABLE bare_events (event_id text PRIMARY KEY, channel text, ts text, text text)');
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const expected = `v0=${createHmac('sha256', team.secret).update(`v0:${req.headers['x-slack-request-timestamp']}:`).update(raw).digest('hex')}`;
      if (req.headers['x-slack-signature'] !== expected) return void res.writeHead(401).end();
      const b = JSON.parse(raw.toString()) as { event_id: string; event: { channel: string; ts: string; text: string } };
      pool.query('INSERT INTO bare_events VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [b.event_id, b.event.channel, b.event.ts, b.event.text])
        .then(() => res.writeHead(200).end(), () => res.writeHead(500).end());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const ms = await drive(`http://127.0.0.1:${(server.address() as { port: number }).port}/`, bodies);
  server.close();
  await pool.end();
  return ms;
}

async function count(client: pg.Client, sql: string): Promise<number> {
  return Number((await client.query(sql)).rows[0].n);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let slack: FakeSlack | undefined;
let db: TestDatabase | undefined;
let app: TestApp | undefined;
let probe: pg.Client | undefined;
try {
  [slack, db] = await Promise.all([startFakeSlack(), createTestDatabase()]);
  process.stderr.write('helpdesk: tickets and their threads...\n');
  app = await startTestApp({
    db,
    env: { LOG_LEVEL: 'silent', APP_SECRET: 'bench-secret-bench-secret', SLACK_API_URL: slack.url, SLACK_CHANNEL_INTERVAL_MS: '0', SLACK_SYNC_POLL_MS: '200', SLACK_CONCURRENCY: process.env.SLACK_CONCURRENCY ?? '8', PUBLIC_URL: 'https://bench.example' },
    workerOptions: { email: false, telegram: false },
  });
  const seed = await seedOrganization(app, 'Bench Org');
  await connectWorkspace(new SlackStore(app.rt.orm, new SecretBox(app.rt.secret)), slack.url, {
    organizationId: seed.org.id, botToken: slack.addWorkspace(team.teamId, 'U0BENCHBOT'), signingSecret: team.secret, triageChannel: 'C0BENCH', noteMarkers: ['note:'],
  });
  const agents = Array.from({ length: 8 }, (_, i) => `U0AGENT${i}`);
  for (const [i, id] of agents.entries()) {
    const user = await app.directory.createUser(seed.org.id, { email: `agent${i}@bench.test`, role: 'agent', name: `Agent ${i}` });
    slack.addUser({ id, name: user.name, email: `agent${i}@bench.test` });
  }
  const api = (path: string, body: unknown) => fetch(`${app!.baseUrl}/api/v1${path}`, { method: 'POST', headers: { authorization: `Bearer ${seed.customer.key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  for (let i = 0; i < ticketCount; i++) await api('/tickets', { subject: `Bench ticket ${i}`, description: 'Something broke' });
  probe = new pg.Client({ connectionString: db.url });
  await probe.connect();
  while ((await count(probe, 'SELECT count(*) AS n FROM slack_threads')) < ticketCount) await sleep(200);
  const threads = (await probe.query('SELECT channel_id, ts FROM slack_threads')).rows as Array<{ channel_id: string; ts: string }>;
  const bodies = Array.from({ length: total }, (_, i) => {
    const t = threads[i % threads.length]!;
    const reply = threadReply({ channel: t.channel_id, user: agents[i % agents.length]!, text: `Answer ${i}: please restart it`, threadTs: t.ts, team: team.teamId });
    slack!.userMessage(team.teamId, t.channel_id, reply.ts as string, String(reply.text));
    return eventCallback(team, reply).body;
  });

  process.stderr.write('bare endpoint...\n');
  const bareMs = await bare(db, bodies);

  process.stderr.write('helpdesk...\n');
  const reactionsBefore = slack.calls.filter((c) => c.method === 'reactions.add').length;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const acceptMs = await drive(`${app.baseUrl}/slack/events`, bodies);
  while ((await count(probe, `SELECT count(*) AS n FROM messages WHERE channel = 'slack'`)) < total) await sleep(100);
  const committedMs = performance.now() - started;
  while (slack.calls.filter((c) => c.method === 'reactions.add').length - reactionsBefore < total) await sleep(100);
  const shownMs = performance.now() - started;
  const used = process.cpuUsage(cpu);

  const rate = (ms: number) => (total / (ms / 1000)).toFixed(0);
  console.log(`\nSlack thread replies, ${total} events from ${agents.length} agents on ${ticketCount} tickets, ${concurrency} requests in flight`);
  console.log('| pipeline | seconds | replies/s | speed vs bare |');
  console.log('|---|---|---|---|');
  console.log(`| bare: signature + JSON + INSERT | ${(bareMs / 1000).toFixed(2)} | ${rate(bareMs)} | 1.00 |`);
  console.log(`| helpdesk: Request URL answered (queued) | ${(acceptMs / 1000).toFixed(2)} | ${rate(acceptMs)} | ${(bareMs / acceptMs).toFixed(2)} |`);
  console.log(`| helpdesk: reply committed on its ticket | ${(committedMs / 1000).toFixed(2)} | ${rate(committedMs)} | ${(bareMs / committedMs).toFixed(2)} |`);
  console.log(`| helpdesk: outcome shown under the reply | ${(shownMs / 1000).toFixed(2)} | ${rate(shownMs)} | ${(bareMs / shownMs).toFixed(2)} |`);
  console.log(`\nhelpdesk process CPU: ${((used.user + used.system) / 1000 / total).toFixed(2)} ms per reply (web, workers, fake Web API together)`);
} finally {
  await probe?.end().catch(() => undefined);
  await app?.stop().catch(() => undefined);
  await slack?.close().catch(() => undefined);
  await db?.drop().catch(() => undefined);
  load.close();
}
