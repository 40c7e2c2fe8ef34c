/**
 * Intake benchmark: `npm run bench:intake -- [--tickets N --concurrency C] [--rate R --duration S]
 *   [--sync] [--database-url URL] [--keep] [--warmup N] [--env KEY=VALUE ...]`
 *
 * Runs the app the way production does (`node --import tsx src/main.ts all`: web and worker in one process) against a
 * fresh database and a private queue prefix, posts tickets with `Prefer: respond-async`, and measures
 * - accept latency: request start -> 202 (time to get the job into Redis),
 * - accept-to-committed latency: tickets.created_at (Postgres now(), same machine clock) - client accept time,
 * - throughput, the app's peak RSS, the intake backlog and the CPU each process spent.
 * Everything it creates (process, database, Redis keys) is removed at the end, also on error or Ctrl-C.
 * BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/test) is where databases are created; REDIS_URL
 * (default redis://127.0.0.1:6379) is used by the app and for the queue counts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { ApiKeys } from '../src/persistence/api-keys.ts';
import { migrate, openDatabase } from '../src/persistence/database.ts';
import { Directory } from '../src/persistence/directory.ts';
import { freePort } from '../src/runtime/private-redis.ts';
import { QUEUES } from '../src/workers/queues.ts';

const { values: opts } = parseArgs({
  options: {
    tickets: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '64' },
    rate: { type: 'string' },
    duration: { type: 'string', default: '20' },
    'database-url': { type: 'string' },
    keep: { type: 'boolean', default: false },
    // Without Prefer: respond-async each request waits for its commit (201), as a plain API client does.
    sync: { type: 'boolean', default: false },
    warmup: { type: 'string', default: '200' },
    env: { type: 'string', multiple: true, default: [] },
  },
  strict: true,
});
const positive = (name: string, v: string | undefined): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number (got ${v})`);
  return n;
};
const openLoop = opts.rate !== undefined;
const rate = openLoop ? positive('rate', opts.rate) : 0;
const duration = positive('duration', opts.duration);
const concurrency = Math.floor(positive('concurrency', opts.concurrency));
const warmup = Math.max(0, Math.floor(Number(opts.warmup) || 0));
const total = openLoop ? Math.floor(rate * duration) : Math.floor(positive('tickets', opts.tickets));
const appEnv = Object.fromEntries(opts.env!.map((kv) => {
  const at = kv.indexOf('=');
  if (at < 1) throw new Error(`--env wants KEY=VALUE (got ${kv})`);
  return [kv.slice(0, at), kv.slice(at + 1)];
}));
/** Open loop only: sends beyond this many unanswered requests are dropped (and counted), not queued. */
const MAX_IN_FLIGHT = 2000;
const ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const runId = randomBytes(4).toString('hex');
const prefix = `bench-${runId}`;
const marker = `bench-${runId}`;

// Epoch milliseconds with sub-ms precision, comparable to Postgres timestamps on the same machine.
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

/** Resolves with the promise's value, or undefined after `ms` (cleanup steps must never hang). */
async function bounded<T>(label: string, ms: number, p: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((r) => { timer = setTimeout(() => { log(`${label}: gave up after ${ms} ms`); r(undefined); }, ms); })]);
  } catch (err) {
    log(`${label}: ${(err as Error).message}`);
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

async function adminQuery(url: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try { return await client.query(sql, params); } finally { await client.end(); }
}


// ---- /proc sampling: RSS of the app process, CPU of app / postgres / redis, machine steal ----
interface Proc { pid: number; ppid: number; comm: string; cpuTicks: number }
function processes(): Proc[] {
  const out: Proc[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
      out.push({ pid: Number(name), ppid: Number(f[1]), comm, cpuTicks: Number(f[11]) + Number(f[12]) });
    } catch { /* exited meanwhile */ }
  }
  return out;
}
function descendants(root: number, procs = processes()): Array<Proc & { depth: number }> {
  const found: Array<Proc & { depth: number }> = [];
  const walk = (pid: number, depth: number) => {
    for (const p of procs.filter((q) => q.ppid === pid)) { found.push({ ...p, depth }); walk(p.pid, depth + 1); }
  };
  walk(root, 1);
  return found;
}
const rssMb = (pid: number): number => {
  try { return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024; } catch { return 0; }
};
/**
 * CPU seconds so far of the app, this database's Postgres backends plus Postgres' shared helpers (WAL writer,
 * checkpointer...), redis-server, this client, and the whole machine: the machine is shared, so "other" shows
 * how much CPU someone else took during the run.
 */
function cpuSnapshot(appPid: number, db: string) {
  const procs = processes();
  const pgOf = (p: Proc) => { try { return fs.readFileSync(`/proc/${p.pid}/cmdline`, 'utf8'); } catch { return ''; } };
  const ticks = (pred: (p: Proc) => boolean) => procs.filter(pred).reduce((s, p) => s + p.cpuTicks, 0) / 100;
  const u = process.cpuUsage();
  const [, ...f] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  const busy = (f.slice(0, 8).reduce((a, b) => a + b!, 0) - f[3]! - f[4]!) / 100;
  return {
    app: ticks((p) => p.pid === appPid),
    // Client backends show "user db host(port)" in their title; helpers have no "(".
    postgres: ticks((p) => p.comm === 'postgres' && (pgOf(p).includes(` ${db} `) || !pgOf(p).includes('('))),
    redis: ticks((p) => p.comm.startsWith('redis-server')), bench: (u.user + u.system) / 1e6,
    busy, steal: f[7]! / 100, all: f.slice(0, 8).reduce((a, b) => a + b!, 0) / 100,
  };
}

// ---- the app as a child process ----
let child: ChildProcess | undefined;
function startApp(env: Record<string, string>): ChildProcess {
  // As `npm start` runs it; own process group (detached), so one signal reaches everything it starts.
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'all'], { env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  for (const stream of [proc.stdout!, proc.stderr!]) stream.on('data', (d: Buffer) => process.stderr.write(d.toString().replace(/^(?=.)/gm, '[app] ')));
  return proc;
}
async function stopApp(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  try { process.kill(-proc.pid!, 'SIGTERM'); } catch { return; }
  if (await bounded('app shutdown', 20_000, exited.then(() => true))) return;
  try { process.kill(-proc.pid!, 'SIGKILL'); } catch { /* gone */ }
  await bounded('app kill', 5000, exited);
}

// ---- HTTP ----
function post(agent: http.Agent, port: number, key: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      agent, host: '127.0.0.1', port, method: 'POST', path: '/api/v1/tickets',
      headers: {
        authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
        ...(opts.sync ? {} : { prefer: 'respond-async' }),
      },
    }, (res) => { res.resume(); res.once('end', () => resolve(res.statusCode ?? 0)); res.once('error', reject); });
    req.once('error', reject);
    req.end(body);
  });
}
async function waitReady(port: number, proc: ChildProcess): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`the app exited with code ${proc.exitCode} before it was ready`);
    const ok = await new Promise<boolean>((r) => http.get({ host: '127.0.0.1', port, path: '/readyz' }, (res) => { res.resume(); r(res.statusCode === 200); }).once('error', () => r(false)));
    if (ok) return;
    await sleep(200);
  }
  throw new Error('the app did not become ready within 90 s');
}

const pct = (sorted: number[], p: number) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN;
const trio = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return [50, 95, 99].map((p) => pct(s, p).toFixed(1)).join(' / '); };

// ---- cleanup, run once, bounded, also on Ctrl-C ----
let dbName: string | undefined;
let dataDir: string | undefined;
let cleaning: Promise<void> | undefined;
/** The client's own connections and timers, closed first (also when main fails half-way). */
const disposers: Array<() => unknown> = [];
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const dispose of disposers.reverse()) await bounded('close', 5000, Promise.resolve().then(dispose));
    if (child) await stopApp(child);
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });
    await bounded('queue cleanup', 15_000, (async () => {
      await redis.connect();
      for (const name of Object.values(QUEUES)) {
        const q = new Queue(name, { connection: redis, prefix });
        await q.obliterate({ force: true }).finally(() => q.close());
      }
      // Obliterate leaves e.g. the events stream and id counters of never-used queues; sweep the prefix.
      for (let cursor = '0'; ;) {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        if (keys.length) await redis.del(...keys);
        if ((cursor = next) === '0') break;
      }
    })());
    redis.disconnect();
    if (dbName && !opts.keep) await bounded('drop database', 15_000, adminQuery(ADMIN_URL, `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));
    else if (dbName) log(`kept database ${dbName}`);
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { log(`${sig}: cleaning up`); void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143)); });

async function main(): Promise<void> {
  // 1. Database: fresh (or the given one), migrated, with an organization, an agent and an API key.
  let dbUrl = opts['database-url'];
  if (!dbUrl) {
    dbName = `bench_${runId}`;
    await adminQuery(ADMIN_URL, `CREATE DATABASE ${dbName}`);
    const u = new URL(ADMIN_URL); u.pathname = `/${dbName}`; dbUrl = u.toString();
  }
  const orm = await openDatabase(dbUrl, 2);
  let orgId: string, apiKey: string;
  try {
    await migrate(orm);
    const org = await new Directory(orm).createOrganization(`Bench ${runId}`, `bench-${runId}`);
    const user = await new Directory(orm).createUser(org.id, { email: `agent-${runId}@bench.test`, role: 'agent' });
    ({ key: apiKey, organizationId: orgId } = await new ApiKeys(orm).create(user.id, 'bench'));
  } finally { await orm.close(); }

  // 2. The app, web + worker in one process like `npm start`.
  const port = await freePort();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-intake-'));
  child = startApp({
    DATABASE_URL: dbUrl, REDIS_URL, PORT: String(port), HOST: '127.0.0.1', QUEUE_PREFIX: prefix, LOG_LEVEL: 'warn',
    DATA_DIR: dataDir, SHUTDOWN_TIMEOUT_MS: '5000', ...appEnv,
  });
  await waitReady(port, child);
  // npx -> tsx wrapper -> node running main.ts (which has esbuild as its own child): the deepest node is the app.
  const tree = descendants(child.pid!).filter((p) => p.comm === 'node').sort((a, b) => b.depth - a.depth);
  const appPid = tree[0]?.pid ?? child.pid!;
  const pgDb = new URL(dbUrl).pathname.slice(1);

  // 3. Samplers: app RSS (and the whole tree's), intake backlog, every 500 ms.
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue(QUEUES.intake, { connection: redis, prefix });
  disposers.push(() => redis.disconnect(), () => queue.close());
  const backlog = async () => { const c = await queue.getJobCounts('waiting', 'active'); return (c.waiting ?? 0) + (c.active ?? 0); };
  let peakRss = 0, peakTreeRss = 0, maxBacklog = 0;
  const sample = async () => {
    peakRss = Math.max(peakRss, rssMb(appPid));
    peakTreeRss = Math.max(peakTreeRss, [child!.pid!, ...descendants(child!.pid!).map((p) => p.pid)].reduce((s, pid) => s + rssMb(pid), 0));
    maxBacklog = Math.max(maxBacklog, await backlog().catch(() => 0));
  };
  const sampler = setInterval(() => void sample(), 500);
  disposers.push(() => clearInterval(sampler));

  // 4. Load. Subjects carry the index so each committed row can be matched to its request.
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  disposers.push(() => agent.destroy());
  const sentAt = new Float64Array(total).fill(NaN), acceptedAt = new Float64Array(total).fill(NaN);
  const failures = new Map<string, number>();
  const fail = (why: string) => failures.set(why, (failures.get(why) ?? 0) + 1);
  const sendOne = async (i: number, startedAt: number) => {
    sentAt[i] = startedAt;
    try {
      const status = await post(agent, port, apiKey, JSON.stringify({ subject: `${marker} #${i}`, description: 'Benchmark ticket: the printer on floor 3 is jammed again.' }));
      if (status === 202 || status === 201) acceptedAt[i] = now(); else fail(`HTTP ${status}`);
    } catch (err) { fail((err as NodeJS.ErrnoException).code ?? String(err)); }
  };
  // Warm-up (not measured): JIT, pools and connections settle first, and it must be committed before t0.
  const db = new pg.Client({ connectionString: dbUrl });
  disposers.push(() => db.end());
  await db.connect();
  const countTickets = async (like: string) =>
    (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM tickets WHERE organization_id = $1 AND subject LIKE $2', [orgId, like])).rows[0]!.n;
  if (warmup > 0) {
    let w = 0;
    await Promise.all(Array.from({ length: Math.min(concurrency, 16) }, async () => {
      while (w < warmup) await post(agent, port, apiKey, JSON.stringify({ subject: `warmup #${w++}` })).catch(() => 0);
    }));
    for (const until = Date.now() + 60_000; (await countTickets('warmup #%')) < warmup && Date.now() < until;) await sleep(100);
  }
  const cpu0 = cpuSnapshot(appPid, pgDb);
  maxBacklog = 0; // the warm-up burst is not part of the run
  const t0 = now();
  let backlogAtEnd = NaN, dropped = 0;
  if (!openLoop) {
    // Closed loop: C clients, each sending its next ticket as soon as the previous one was accepted.
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => { while (next < total) { const i = next++; await sendOne(i, now()); } }));
  } else {
    // Open loop: tickets are due at t0 + i/R whatever the responses; latency counts from the due time, so a
    // slow server cannot hide its queueing (no coordinated omission). Requests beyond the agent's sockets
    // wait in the agent, which is part of what is measured; beyond MAX_IN_FLIGHT they are dropped.
    let inFlight = 0, due = 0;
    const pending: Array<Promise<void>> = [];
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        // Ticket i is due at i/R s, so by elapsed e the first floor(e·R) + 1 are due.
        const target = Math.min(total, Math.floor(((now() - t0) / 1000) * rate) + 1);
        for (; due < target; due++) {
          if (inFlight >= MAX_IN_FLIGHT) { dropped++; continue; }
          inFlight++;
          pending.push(sendOne(due, t0 + (due / rate) * 1000).finally(() => { inFlight--; }));
        }
        if (due >= total) { clearInterval(tick); resolve(); }
      }, 2);
    });
    backlogAtEnd = await backlog();
    await Promise.all(pending);
  }
  const tSent = now();
  const accepted = acceptedAt.filter((t) => !Number.isNaN(t)).length;
  log(`sent ${total} in ${((tSent - t0) / 1000).toFixed(1)} s, ${accepted} accepted; waiting for commits`);

  // 5. Wait until every accepted ticket is in the database (or nothing moves for 30 s), then match rows.
  let committed = -1;
  for (let lastProgress = Date.now(); committed < accepted && Date.now() - lastProgress < 30_000;) {
    const n = await countTickets(`${marker} #%`);
    if (n > committed) { committed = n; lastProgress = Date.now(); }
    if (committed < accepted) await sleep(100);
  }
  const cpu1 = cpuSnapshot(appPid, pgDb);
  // created_at is now() of the writing statement (autocommit), i.e. its start, a ms or two before COMMIT returns.
  const rows = (await db.query<{ subject: string; ms: number }>(
    'SELECT subject, extract(epoch FROM created_at)::float8 * 1000 AS ms FROM tickets WHERE organization_id = $1 AND subject LIKE $2',
    [orgId, `${marker} #%`])).rows;
  await sample();
  const failedJobs = (await queue.getJobCounts('failed')).failed ?? 0;

  // 6. Report.
  const acceptMs: number[] = [], commitMs: number[] = [];
  let lastCommit = t0, lastAccept = t0;
  for (let i = 0; i < total; i++) if (!Number.isNaN(acceptedAt[i]!)) { acceptMs.push(acceptedAt[i]! - sentAt[i]!); lastAccept = Math.max(lastAccept, acceptedAt[i]!); }
  for (const r of rows) {
    const i = Number(r.subject.slice(marker.length + 2));
    if (!r.subject.startsWith(marker) || Number.isNaN(acceptedAt[i]!)) continue;
    commitMs.push(r.ms - acceptedAt[i]!);
    lastCommit = Math.max(lastCommit, r.ms);
  }
  const acceptRate = accepted / ((lastAccept - t0) / 1000);
  const commitRate = commitMs.length / ((lastCommit - t0) / 1000);
  const cores = os.cpus().length;
  const bounded1s = openLoop ? `${backlogAtEnd <= rate ? 'yes' : 'NO'} (end ${backlogAtEnd}, max ${maxBacklog})` : `n/a (max ${maxBacklog})`;
  const cmd = `npm run bench:intake -- ${process.argv.slice(2).join(' ')}`.trim();
  console.log(`\nCommand: \`${cmd}\`\n`);
  console.log('| mode | load | concurrency | cores | accepted/s | committed/s | accept p50/p95/p99 ms | committed p50/p95/p99 ms | peak RSS MB | backlog bounded |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  console.log(`| ${openLoop ? 'open' : 'closed'} | ${openLoop ? `${rate}/s × ${duration} s` : `N=${total}`} | ${concurrency} | ${cores} | ${acceptRate.toFixed(0)} | ${commitRate.toFixed(0)} | ${trio(acceptMs)} | ${trio(commitMs)} | ${peakRss.toFixed(0)} | ${bounded1s} |`);
  const d = (k: 'app' | 'postgres' | 'redis' | 'bench') => cpu1[k] - cpu0[k];
  const perTicket = (s: number) => `${((s * 1000) / Math.max(1, commitMs.length)).toFixed(2)} ms/ticket`;
  const busy = cpu1.busy - cpu0.busy, span = cpu1.all - cpu0.all;
  const other = busy - d('app') - d('postgres') - d('redis') - d('bench');
  console.log(`\n- committed ${commitMs.length}/${accepted} accepted of ${total} sent; failed jobs ${failedJobs}; dropped (in-flight cap) ${dropped}; errors ${failures.size ? JSON.stringify(Object.fromEntries(failures)) : 'none'}`);
  console.log(`- CPU s (first send to last commit): app ${d('app').toFixed(1)} (${perTicket(d('app'))}), postgres ${d('postgres').toFixed(1)} (${perTicket(d('postgres'))}), redis ${d('redis').toFixed(1)} (${perTicket(d('redis'))}), bench client ${d('bench').toFixed(1)}, everything else ${other.toFixed(1)}`);
  console.log(`- machine: busy ${((100 * busy) / span).toFixed(0)} %, steal ${((100 * (cpu1.steal - cpu0.steal)) / span).toFixed(1)} % of ${cores} cores over ${((lastCommit - t0) / 1000).toFixed(1)} s; peak RSS of the npx/tsx/app tree ${peakTreeRss.toFixed(0)} MB`);
  console.log(`- app env: ${Object.keys(appEnv).length ? Object.entries(appEnv).map(([k, v]) => `${k}=${v}`).join(' ') : 'defaults'}`);
}

try {
  await main();
} catch (err) {
  log(`failed: ${(err as Error).stack ?? err}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
