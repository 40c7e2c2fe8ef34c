/**
 * QR passport report benchmark: `npm run bench:passport -- [--reports N] [--concurrency C]`
 *
 * Submits N report forms (text, no photo, "no notifications") to an object's passport page, C at a time, and
 * compares
 * - bare: an HTTP server that parses the same urlencoded... multipart form and INSERTs one row;
 * - helpdesk: the passport route (CSRF check, rate limit off by spreading addresses, multipart parsing, intake
 *   job, commit, the "registered as #N" page).
 * Needs PostgreSQL (BENCH_PG_URL or TEST_PG_URL) and Redis (REDIS_URL).
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import busboy from 'busboy';
import pg from 'pg';
import { apiClient, seedOrganization, startTestApp, type TestApp } from '../tests/support/app.ts';
import { createTestDatabase, type TestDatabase } from '../tests/support/database.ts';

const { values: opts } = parseArgs({ options: { reports: { type: 'string', default: '500' }, concurrency: { type: 'string', default: '16' } }, strict: true });
const total = Math.max(1, Number(opts.reports) || 500);
const concurrency = Math.max(1, Number(opts.concurrency) || 16);
if (process.env.BENCH_PG_URL) process.env.TEST_PG_URL = process.env.BENCH_PG_URL;

async function drive(send: (i: number) => Promise<number>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) {
      const i = next++;
      const status = await send(i);
      if (status !== 200) throw new Error(`answered ${status}`);
    }
  }));
  return performance.now() - started;
}

function form(fields: Record<string, string>): FormData {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  return fd;
}

async function bare(db: TestDatabase): Promise<number> {
  const pool = new pg.Pool({ connectionString: db.url, max: 10 });
  await pool.query('CREATE TABLE bare_reports (id serial PRIMARY KEY, submission uuid UNIQUE, text text)');
  const server = http.createServer((req, res) => {
    const fields: Record<string, string> = {};
    const bb = busboy({ headers: req.headers });
    bb.on('field', (k, v) => { fields[k] = v; });
    bb.on('close', () => {
      pool.query('INSERT INTO bare_reports (submission, text) VALUES ($1, $2) ON CONFLICT DO NOTHING', [fields.submission, fields.text])
        .then(() => res.writeHead(200, { 'content-type': 'text/html' }).end('<p>ok</p>'), () => res.writeHead(500).end());
    });
    req.pipe(bb);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  const ms = await drive(async (i) => (await fetch(url, { method: 'POST', body: form({ submission: crypto.randomUUID(), text: `Problem ${i}` }) })).status);
  server.close();
  await pool.end();
  return ms;
}

let db: TestDatabase | undefined;
let app: TestApp | undefined;
try {
  db = await createTestDatabase();
  process.stderr.write('bare form handler...\n');
  const bareMs = await bare(db);
  process.stderr.write('helpdesk...\n');
  app = await startTestApp({ db, env: { LOG_LEVEL: 'silent', APP_SECRET: 'bench-secret-bench-secret', TRUST_PROXY: 'true' }, workerOptions: { email: false, telegram: false } });
  const seed = await seedOrganization(app, 'Bench Org');
  const object = (await apiClient(app.baseUrl, seed.admin.key).post('/objects', { name: 'Printer 1' })).body as { passport_token: string };
  const page = `${app.baseUrl}/o/${object.passport_token}/report`;
  // One visitor's cookie and CSRF token, as a browser keeps them; each report its own address (the rate limit
  // is per address) and submission id.
  const first = await fetch(page);
  const cookie = first.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const csrf = /name="csrf" value="([^"]+)"/.exec(await first.text())![1]!;
  const ms = await drive(async (i) => {
    const res = await fetch(page, {
      method: 'POST', headers: { cookie, 'x-forwarded-for': `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` },
      body: form({ csrf, submission: crypto.randomUUID(), text: `Problem ${i}`, contact: 'none', website: '' }),
    });
    const text = await res.text();
    if (!/#\d+/.test(text)) throw new Error(`no ticket number in the answer (HTTP ${res.status})`);
    return res.status;
  });
  const rate = (x: number) => (total / (x / 1000)).toFixed(0);
  console.log(`\nQR passport reports, ${total} forms, ${concurrency} in flight (each answered with its ticket number)`);
  console.log('| pipeline | seconds | reports/s | speed vs bare |');
  console.log('|---|---|---|---|');
  console.log(`| bare: multipart form + INSERT | ${(bareMs / 1000).toFixed(2)} | ${rate(bareMs)} | 1.00 |`);
  console.log(`| helpdesk: passport form to committed ticket | ${(ms / 1000).toFixed(2)} | ${rate(ms)} | ${(bareMs / ms).toFixed(2)} |`);
} finally {
  await app?.stop().catch(() => undefined);
  await db?.drop().catch(() => undefined);
}
