/**
 * Telegram intake benchmark: `npm run bench:telegram -- [--updates N] [--concurrency C]`
 *
 * Posts N realistic text updates (from N different people) to the bot's webhook, C at a time, and measures
 * - bare: a hand-written webhook on the same machine: an HTTP server that checks the secret, parses the update
 *   and INSERTs it (one row per update, no queue);
 * - helpdesk: the Telegram channel: webhook route (secret, enqueue, 200), update worker (telegraf, chat lock),
 *   intake job and commit; and until each chat got its "registered as #N" answer from the (fake) Bot API.
 * Needs PostgreSQL (BENCH_PG_URL or TEST_PG_URL) and Redis (REDIS_URL). Everything it starts is stopped.
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { TelegramStore } from '../src/persistence/telegram-store.ts';
import { SecretBox } from '../src/security/secret-box.ts';
import { seedOrganization, startTestApp, type TestApp } from '../tests/support/app.ts';
import { createTestDatabase, type TestDatabase } from '../tests/support/database.ts';
import { startFakeTelegram, type FakeTelegram } from '../tests/support/fake-telegram.ts';
import { person, textUpdate } from '../tests/support/telegram-updates.ts';
import { httpLoad } from './http-load.ts';

const { values: opts } = parseArgs({ options: { updates: { type: 'string', default: '1000' }, concurrency: { type: 'string', default: '32' } }, strict: true });
const total = Math.max(1, Number(opts.updates) || 1000);
const concurrency = Math.max(1, Number(opts.concurrency) || 32);
if (process.env.BENCH_PG_URL) process.env.TEST_PG_URL = process.env.BENCH_PG_URL;

const load = httpLoad(concurrency);
const drive = (url: string, secret: string, updates: unknown[]) =>
  load.drive(updates, (u) => load.post(url, JSON.stringify(u), { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret }));

async function bare(db: TestDatabase, updates: unknown[]): Promise<number> {
  const pool = new pg.Pool({ connectionString: db.url, max: 10 });
  await pool.query('CREATE TABLE bare_updates (update_id bigint PRIMARY KEY, chat_id bigint, text text)');
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.headers['x-telegram-bot-api-secret-token'] !== 'bare-secret') return void res.writeHead(403).end();
      const u = JSON.parse(Buffer.concat(chunks).toString()) as { update_id: number; message: { chat: { id: number }; text: string } };
      pool.query('INSERT INTO bare_updates VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [u.update_id, u.message.chat.id, u.message.text])
        .then(() => res.writeHead(200).end('{}'), () => res.writeHead(500).end());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const ms = await drive(`http://127.0.0.1:${(server.address() as { port: number }).port}/`, 'bare-secret', updates);
  server.close();
  await pool.end();
  return ms;
}

async function count(client: pg.Client, sql: string): Promise<number> {
  return Number((await client.query(sql)).rows[0].n);
}

let tg: FakeTelegram | undefined;
let db: TestDatabase | undefined;
let app: TestApp | undefined;
let probe: pg.Client | undefined;
try {
  [tg, db] = await Promise.all([startFakeTelegram(), createTestDatabase()]);
  const updates = Array.from({ length: total }, (_, i) => textUpdate(person(100_000 + i, `User${i}`), `Printer ${i} is jammed again`));
  process.stderr.write('bare webhook...\n');
  const bareMs = await bare(db, updates);

  process.stderr.write('helpdesk...\n');
  app = await startTestApp({
    db, env: { LOG_LEVEL: 'silent', APP_SECRET: 'bench-secret-bench-secret', TELEGRAM_API_ROOT: tg.url, PUBLIC_URL: 'https://bench.example' },
    workerOptions: { email: false, telegram: { refreshMs: 200 } },
  });
  const seed = await seedOrganization(app, 'Bench Org');
  const token = tg.addBot(888001, 'bench_bot');
  const bot = await new TelegramStore(app.rt.orm, new SecretBox(app.rt.secret)).addBot({ organizationId: seed.org.id, botId: '888001', username: 'bench_bot', token, mode: 'webhook' });
  await tg.waitForCall((c) => c.token === token && c.method === 'setWebhook');
  probe = new pg.Client({ connectionString: db.url });
  await probe.connect();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const acceptMs = await drive(`${app.baseUrl}/telegram/888001`, bot.webhookSecret, updates);
  while ((await count(probe, `SELECT count(*) AS n FROM messages WHERE channel = 'telegram'`)) < total) await new Promise((r) => setTimeout(r, 100));
  const committedMs = performance.now() - started;
  while (tg.calls.filter((c) => c.token === token && c.method === 'sendMessage').length < total) await new Promise((r) => setTimeout(r, 100));
  const answeredMs = performance.now() - started;
  const used = process.cpuUsage(cpu);

  const rate = (ms: number) => (total / (ms / 1000)).toFixed(0);
  console.log(`\nTelegram webhook intake, ${total} text updates from ${total} people, ${concurrency} requests in flight`);
  console.log('| pipeline | seconds | updates/s | speed vs bare |');
  console.log('|---|---|---|---|');
  console.log(`| bare: secret check + JSON + INSERT | ${(bareMs / 1000).toFixed(2)} | ${rate(bareMs)} | 1.00 |`);
  console.log(`| helpdesk: webhook answered (queued) | ${(acceptMs / 1000).toFixed(2)} | ${rate(acceptMs)} | ${(bareMs / acceptMs).toFixed(2)} |`);
  console.log(`| helpdesk: ticket committed | ${(committedMs / 1000).toFixed(2)} | ${rate(committedMs)} | ${(bareMs / committedMs).toFixed(2)} |`);
  console.log(`| helpdesk: answer sent to the chat | ${(answeredMs / 1000).toFixed(2)} | ${rate(answeredMs)} | ${(bareMs / answeredMs).toFixed(2)} |`);
  console.log(`\nhelpdesk process CPU: ${((used.user + used.system) / 1000 / total).toFixed(2)} ms per update (web, workers, fake Bot API together)`);
} finally {
  await probe?.end().catch(() => undefined);
  await app?.stop().catch(() => undefined);
  await tg?.close().catch(() => undefined);
  await db?.drop().catch(() => undefined);
  load.close();
}
