import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, seedOrganization, startTestApp, type ApiResponse, type TestApp } from '../support/app.ts';
import { createTestDatabase, query, type TestDatabase } from '../support/database.ts';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { startWorkerChild, type WorkerChild } from '../support/worker-child.ts';
import { committedBySubject, errorBodyOf, eventually, notExactlyOnce, queueIsDry, sleep, timed, within } from '../support/outage-helpers.ts';

/**
 * What happens to intake when the things it depends on go away: Redis stopped (and restarted under load),
 * Postgres unreachable, a worker killed in the middle of its jobs. Real processes and connections, no mocks.
 * The property throughout: a request answered 201 or 202 becomes exactly one ticket; one answered 503 makes
 * nothing; nothing hangs.
 */

describe('Redis outage', () => {
  let redis: TestRedisServer;
  let app: TestApp;
  let agentKey: string;
  let organizationId: string;

  beforeAll(async () => {
    redis = await startRedisServer();
    app = await startTestApp({ env: { REDIS_URL: redis.url, JOB_LOCK_MS: '2000', INTAKE_WAIT_MS: '2000' } });
    const seed = await seedOrganization(app);
    agentKey = seed.agent.key;
    organizationId = seed.org.id;
  });

  afterAll(async () => {
    // The app closes its workers and queues cleanly only while its Redis runs.
    if (redis && !redis.running) await redis.start().catch(() => undefined);
    await app?.stop();
    await redis?.dispose();
  });

  it('answers 503 with a JSON error, quickly, while Redis is stopped, and saves nothing', async () => {
    const api = apiClient(app.baseUrl, agentKey);
    const before = await api.post('/tickets', { subject: 'redis up', description: 'before the outage' });
    expect([201, 202]).toContain(before.status);

    await redis.stop();
    const refusedSubjects: string[] = [];
    try {
      const attempts = Array.from({ length: 6 }, (_, i) => {
        const subject = `redis down ${i}`;
        refusedSubjects.push(subject);
        const headers: Record<string, string> = i % 2 === 0 ? {} : { prefer: 'respond-async' };
        return timed(() => within(api.post('/tickets', { subject, description: 'during the outage' }, headers), 5000, `POST /tickets (${subject})`));
      });
      const answers = await Promise.all(attempts);
      for (const { value: res, ms } of answers) {
        expect(res.status, res.text).toBe(503);
        expect(ms).toBeLessThan(3000);
        expect(res.headers.get('content-type')).toMatch(/application\/json/);
        expect(errorBodyOf(res)).toMatchObject({ code: 'unavailable' });
        expect(errorBodyOf(res)?.message).toMatch(/queue unavailable/);
        expect(res.headers.get('retry-after')).toBe('5');
      }
      // A second round, once ioredis has given up on the first reconnect attempts, is refused as fast.
      await sleep(1000);
      const again = await timed(() => within(api.post('/tickets', { subject: 'redis down again', description: 'x' }), 5000, 'POST /tickets'));
      refusedSubjects.push('redis down again');
      expect(again.value.status).toBe(503);
      expect(again.ms).toBeLessThan(3000);
    } finally {
      if (!redis.running) await redis.start();
    }

    // Back up: the API takes tickets again within a few seconds, and the refused requests made nothing.
    let after: ApiResponse | undefined;
    const recovered = await eventually(async () => {
      after = await api.post('/tickets', { subject: `redis back ${randomBytes(3).toString('hex')}`, description: 'after' });
      return after.status === 201;
    }, 15_000, 250);
    expect(recovered, `last answer: ${after?.status} ${after?.text}`).toBe(true);
    await eventually(async () => queueIsDry(app), 5000);
    const made = await committedBySubject(app.db.url, organizationId, refusedSubjects);
    expect([...made.keys()]).toEqual([]);
  });

  it('keeps every acknowledged ticket, exactly once, when Redis stops and starts again under load', async () => {
    const api = apiClient(app.baseUrl, agentKey);
    const run = randomBytes(3).toString('hex');
    const results: Array<{ subject: string; status: number; code?: string; ms: number; at: number }> = [];
    const started = Date.now();
    const stopAt = started + 8000;
    const maxRequests = 600;
    let sent = 0;

    const loop = async (lane: number) => {
      while (Date.now() < stopAt && sent < maxRequests) {
        const n = sent++;
        const subject = `load ${run} ${lane}-${n}`;
        const headers: Record<string, string> = n % 3 === 0 ? { prefer: 'respond-async' } : {};
        const { value: res, ms } = await timed(() => within(api.post('/tickets', { subject, description: `request ${n}` }, headers), 10_000, `POST ${subject}`));
        results.push({ subject, status: res.status, code: errorBodyOf(res)?.code, ms, at: Date.now() - started });
        // While Redis is away the loop would spin on instant 503s; a short pause keeps the count bounded.
        if (res.status === 503) await sleep(50);
      }
    };
    const outage = async () => {
      await sleep(2000);
      const down = Date.now();
      await redis.stop();
      // The lanes may all be busy for the whole outage (a request in flight when Redis went away keeps
      // asking until Redis answers), so one request of its own is sure to arrive while Redis is down.
      await sleep(300);
      const subject = `load ${run} probe`;
      const { value: res, ms } = await timed(() => within(api.post('/tickets', { subject, description: 'while Redis is down' }), 10_000, `POST ${subject}`));
      results.push({ subject, status: res.status, code: errorBodyOf(res)?.code, ms, at: Date.now() - started });
      await sleep(Math.max(0, 1500 - (Date.now() - down)));
      await redis.start();
      return { downAt: down - started, upAt: Date.now() - started };
    };
    const [{ downAt, upAt }] = await Promise.all([outage(), ...[0, 1, 2, 3].map(loop)]);

    const byStatus = new Map<string, number>();
    for (const r of results) byStatus.set(`${r.status}${r.code ? ` ${r.code}` : ''}`, (byStatus.get(`${r.status}${r.code ? ` ${r.code}` : ''}`) ?? 0) + 1);
    const summary = `statuses ${JSON.stringify(Object.fromEntries(byStatus))}, redis down ${downAt}-${upAt} ms, slowest ${Math.max(...results.map((r) => r.ms))} ms`;
    console.info(`[outages] redis restart under load: ${results.length} requests, ${summary}`);

    // 503 "unavailable": certainly not queued. 503 "outcome_unknown": the connection broke after the job was
    // sent and Redis did not come back in time to tell; it may be written, but at most once.
    expect([...byStatus.keys()].filter((s) => !['201', '202', '503 unavailable', '503 outcome_unknown'].includes(s)), summary).toEqual([]);
    expect(byStatus.get('503 unavailable') ?? 0, `the outage was seen (${summary})`).toBeGreaterThan(0);
    expect(results.filter((r) => r.at > upAt && (r.status === 201 || r.status === 202)).length, `taken again after the restart (${summary})`).toBeGreaterThan(0);

    const acknowledged = results.filter((r) => r.status === 201 || r.status === 202).map((r) => r.subject);
    const refused = results.filter((r) => r.status === 503 && r.code === 'unavailable').map((r) => r.subject);
    const inDoubt = results.filter((r) => r.status === 503 && r.code === 'outcome_unknown').map((r) => r.subject);
    const drained = await eventually(async () => notExactlyOnce(await committedBySubject(app.db.url, organizationId, acknowledged), acknowledged).length === 0, 20_000, 300);
    const made = await committedBySubject(app.db.url, organizationId, acknowledged);
    expect(drained, `not committed exactly once: ${notExactlyOnce(made, acknowledged).slice(0, 10).join(', ')}`).toBe(true);

    // Let the queue run dry, so that a job a refused request might have left behind would have been written.
    await eventually(async () => queueIsDry(app), 10_000);
    const fromRefused = await committedBySubject(app.db.url, organizationId, refused);
    expect([...fromRefused.keys()], 'requests answered 503 made nothing').toEqual([]);
    const fromInDoubt = await committedBySubject(app.db.url, organizationId, inDoubt);
    expect([...fromInDoubt.entries()].filter(([, m]) => m.tickets !== 1 || m.messages !== 1 || m.receipts !== 1), 'in doubt: at most once').toEqual([]);
    expect(await app.rt.intakeQueue.getJobCounts('failed')).toEqual({ failed: 0 });
    const dupes = await query(app.db.url, `SELECT subject FROM tickets WHERE organization_id = $1 GROUP BY subject HAVING count(*) > 1`, [organizationId]);
    expect(dupes).toEqual([]);
  });
});

describe('Postgres outage', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let proxied: TestApp;
  let direct: TestApp;
  let agentKey: string;
  let organizationId: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(db.url).port || 5432) });
    const viaProxy = new URL(db.url);
    viaProxy.port = String(proxy.port);
    const queuePrefix = `t${randomBytes(5).toString('hex')}`;
    // The app under test reaches Postgres only through the proxy. A second, web-only app on the same queue
    // reaches it directly: it stands for the part of the system still able to take requests (another web
    // process, a channel webhook) while the workers cannot write.
    proxied = await startTestApp({ db: { ...db, url: viaProxy.toString() }, env: { QUEUE_PREFIX: queuePrefix, JOB_LOCK_MS: '2000', DB_POOL_SIZE: '4' } });
    direct = await startTestApp({ db, workers: false, env: { QUEUE_PREFIX: queuePrefix } });
    const seed = await seedOrganization(direct);
    agentKey = seed.agent.key;
    organizationId = seed.org.id;
  });

  afterAll(async () => {
    proxy?.restore();
    await direct?.stop();
    await proxied?.stop();
    await proxy?.close();
    await db?.drop();
  });

  it('keeps taking tickets while the database is unreachable, and answers what needs it with a quick 503', async () => {
    const api = apiClient(proxied.baseUrl, agentKey);
    // This key is now known to the web process, which checks it again only every few seconds.
    expect([201, 202]).toContain((await api.post('/tickets', { subject: 'db up', description: 'x' })).status);
    const newcomer = await (async () => {
      const person = await seedOrganization(direct, 'Unseen Co');
      return apiClient(proxied.baseUrl, person.agent.key);
    })();
    proxy.cut();
    const queued = ['db down 0', 'db down 1', 'db down 2'];
    try {
      const accepted = await Promise.all(queued.map((subject) => timed(() => within(api.post('/tickets', { subject, description: 'x' }, { prefer: 'respond-async' }), 5000, 'a ticket while the database is away'))));
      for (const { value: res, ms } of accepted) {
        expect(res.status, res.text).toBe(202);
        expect(ms).toBeLessThan(3000);
      }
      // Reading needs the database, and so does checking a key the process has not seen yet.
      const refused = await Promise.all([() => api.get('/tickets'), () => newcomer.post('/tickets', { subject: 'unseen key' })]
        .map((request) => timed(() => within(request(), 5000, 'a request that needs the database'))));
      for (const { value: res, ms } of refused) {
        expect(res.status, res.text).toBe(503);
        expect(ms).toBeLessThan(3000);
        expect(errorBodyOf(res)?.code).toBe('database_unavailable');
        expect(res.headers.get('retry-after')).toBe('5');
      }
    } finally {
      proxy.restore();
    }
    let after: ApiResponse | undefined;
    const recovered = await eventually(async () => {
      after = await api.get('/tickets?per_page=1');
      return after.status === 200;
    }, 10_000, 250);
    expect(recovered, `last answer: ${after?.status} ${after?.text}`).toBe(true);
    const done = await eventually(async () => notExactlyOnce(await committedBySubject(db.url, organizationId, queued), queued).length === 0, 20_000, 250);
    expect(done, `not written exactly once: ${notExactlyOnce(await committedBySubject(db.url, organizationId, queued), queued).join(', ')}`).toBe(true);
    expect(await query(db.url, `SELECT id FROM tickets WHERE subject = 'unseen key'`)).toEqual([]);
  });

  it('holds queued intake while the workers cannot reach the database, then writes each event once', async () => {
    const api = apiClient(direct.baseUrl, agentKey);
    const subjects = Array.from({ length: 20 }, (_, i) => `queued while cut ${i}`);
    proxy.cut();
    const acceptedBefore = proxy.accepted;
    let cutFor = 0;
    try {
      const cutAt = Date.now();
      for (const subject of subjects) {
        const res = await api.post('/tickets', { subject, description: 'x' }, { prefer: 'respond-async' });
        expect(res.status, res.text).toBe(202);
      }
      // Let the worker try and fail for a while: it must pause, not spend the jobs' attempts.
      // OUTAGE_PG_CUT_MS=150000 (with --testTimeout 250000) soaks it in a long outage.
      await sleep(Number(process.env.OUTAGE_PG_CUT_MS ?? 4000));
      expect(proxy.accepted - acceptedBefore, 'the worker tried to reach the database').toBeGreaterThan(0);
      expect(await committedBySubject(db.url, organizationId, subjects)).toEqual(new Map());
      const counts = await proxied.rt.intakeQueue.getJobCounts('failed', 'completed', 'wait', 'delayed', 'active', 'prioritized');
      console.info(`[outages] jobs during the database outage: ${JSON.stringify(counts)}`);
      expect(counts.failed).toBe(0);
      cutFor = Date.now() - cutAt;
    } finally {
      proxy.restore();
    }
    const restoredAt = Date.now();
    const done = await eventually(async () => notExactlyOnce(await committedBySubject(db.url, organizationId, subjects), subjects).length === 0, 20_000, 250);
    const made = await committedBySubject(db.url, organizationId, subjects);
    expect(done, `not committed exactly once: ${notExactlyOnce(made, subjects).join(', ')}`).toBe(true);
    console.info(`[outages] database cut for ${cutFor} ms; all ${subjects.length} queued events written ${Date.now() - restoredAt} ms after restore`);
    await eventually(async () => queueIsDry(proxied), 5000);
    const jobs = await proxied.rt.intakeQueue.getJobs(['completed', 'failed']);
    const ours = jobs.filter((j) => subjects.includes(j.data.event.subject ?? ''));
    expect(ours.length).toBe(subjects.length);
    expect(ours.filter((j) => j.failedReason), 'no job failed').toEqual([]);
    console.info(`[outages] jobs after the database outage: attempts made ${JSON.stringify(ours.map((j) => j.attemptsMade))}, started ${JSON.stringify(ours.map((j) => j.attemptsStarted))}, stalled ${JSON.stringify(ours.map((j) => j.stalledCounter))}`);
    // The outage spent none of the jobs' attempts (the worker paused instead), and lost no job's lock: a job
    // that stalls more than maxStalledCount times during a long outage fails for good.
    expect(ours.map((j) => j.attemptsMade), 'attempts spent').toEqual(subjects.map(() => 1));
    expect(ours.map((j) => j.stalledCounter), 'stalls').toEqual(subjects.map(() => 0));
  });
});

describe('A worker killed in the middle of its jobs', () => {
  let db: TestDatabase;
  let app: TestApp;
  let dataDir: string;
  let queuePrefix: string;
  let agentKey: string;
  let organizationId: string;
  const children: WorkerChild[] = [];
  let locker: pg.Client | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    queuePrefix = `t${randomBytes(5).toString('hex')}`;
    // Web only: the workers run in processes of their own that the test can kill.
    app = await startTestApp({ db, workers: false, env: { QUEUE_PREFIX: queuePrefix } });
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'hd-worker-'));
    const seed = await seedOrganization(app);
    agentKey = seed.agent.key;
    organizationId = seed.org.id;
  });

  afterAll(async () => {
    await Promise.all(children.map((c) => c.stop()));
    await locker?.end().catch(() => undefined);
    await app?.stop();
    await db?.drop();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  const startWorker = async () => {
    const worker = await startWorkerChild({
      DATABASE_URL: db.url,
      REDIS_URL: app.config.redisUrl,
      QUEUE_PREFIX: queuePrefix,
      DATA_DIR: dataDir,
      // A killed worker's jobs are taken over once their lock expires.
      JOB_LOCK_MS: '2000',
      INTAKE_CONCURRENCY: '8',
      DB_POOL_SIZE: '10',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    });
    children.push(worker);
    return worker;
  };

  it('lets another worker finish the jobs, each event making exactly one ticket and one message', async () => {
    const api = apiClient(app.baseUrl, agentKey);
    const subjects = Array.from({ length: 6 }, (_, i) => `killed worker ${i}`);

    // Hold the organization's row, so that every intake job blocks on its foreign-key check of it.
    locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('SELECT id FROM organizations WHERE id = $1 FOR UPDATE', [organizationId]);

    const first = await startWorker();
    for (const subject of subjects) {
      const res = await api.post('/tickets', { subject, description: 'x' }, { prefer: 'respond-async' });
      expect(res.status, res.text).toBe(202);
    }
    const blocked = async () => {
      const [row] = await query<{ n: string }>(db.url,
        `SELECT count(*) AS n FROM pg_stat_activity
          WHERE datname = $1 AND wait_event_type = 'Lock' AND query LIKE 'WITH %'`, [db.name]);
      return Number(row?.n);
    };
    const allStuck = await eventually(async () => (await app.rt.intakeQueue.getActiveCount()) === subjects.length && (await blocked()) === subjects.length, 15_000);
    expect(allStuck, `active ${await app.rt.intakeQueue.getActiveCount()}, blocked in Postgres ${await blocked()}\n${first.logTail()}`).toBe(true);

    await first.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    const second = await startWorker();
    // The killed worker's statements still wait in Postgres; released, they may even commit before
    // Postgres notices their client is gone. The second worker must write every event anyway, once.
    await locker.query('ROLLBACK');
    await locker.end();
    locker = undefined;

    const done = await eventually(async () => notExactlyOnce(await committedBySubject(db.url, organizationId, subjects), subjects).length === 0, 20_000, 250);
    const made = await committedBySubject(db.url, organizationId, subjects);
    expect(done, `not written exactly once: ${notExactlyOnce(made, subjects).join(', ')}\n${second.logTail()}`).toBe(true);
    expect(await eventually(async () => queueIsDry(app), 5000)).toBe(true);

    const jobs = await app.rt.intakeQueue.getJobs(['completed', 'failed']);
    const ours = jobs.filter((j) => subjects.includes(j.data.event.subject ?? ''));
    expect(ours.map((j) => j.failedReason ?? 'completed')).toEqual(subjects.map(() => 'completed'));
    console.info(`[outages] killed worker: stalled ${JSON.stringify(ours.map((j) => j.stalledCounter))}, attempts ${JSON.stringify(ours.map((j) => j.attemptsMade))}`);
    // Every job was taken over from the killed worker (found stalled), not run again from scratch by chance.
    expect(ours.every((j) => j.stalledCounter >= 1)).toBe(true);
    const tickets = await query<{ subject: string }>(db.url, 'SELECT subject FROM tickets WHERE organization_id = $1 AND subject = ANY($2::text[])', [organizationId, subjects]);
    expect(tickets.map((t) => t.subject).sort()).toEqual([...subjects].sort());
  });
});
