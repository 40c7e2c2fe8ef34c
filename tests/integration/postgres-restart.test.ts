import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, seedOrganization, startTestApp, type ApiResponse, type TestApp } from '../support/app.ts';
import { createTestDatabase, query, type TestDatabase } from '../support/database.ts';
import { startPostgresServer, type TestPostgresServer } from '../support/postgres-server.ts';
import { committedBySubject, eventually, notExactlyOnce, queueIsDry, sleep, within } from '../support/outage-helpers.ts';

/**
 * A real Postgres server stopped (`pg_ctl stop -m fast`: sessions ended with 57P01, new ones refused with
 * 57P03 or ECONNREFUSED) and started again while the API takes tickets and the worker writes them. Unlike the
 * proxy cut in outages.test.ts, every pooled connection dies on the server's side and the server comes back
 * with none of the app's prepared statements. The property: a request answered 201 or 202 becomes exactly one
 * ticket with one message and one receipt; one refused with 503 makes nothing (unless its code says the
 * outcome is unknown); no intake job fails for good.
 */

function errorCodeOf(res: ApiResponse): string | undefined {
  return (res.body as { error?: { code?: string } } | undefined)?.error?.code;
}

function tally<T>(items: readonly T[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[String(item)] = (counts[String(item)] ?? 0) + 1;
  return counts;
}

describe('Postgres stopped and started again under load', () => {
  let pgServer: TestPostgresServer | undefined;
  let db: TestDatabase;
  let app: TestApp | undefined;
  let agentKey: string;
  let organizationId: string;
  let locker: pg.Client | undefined;

  beforeAll(async () => {
    pgServer = await startPostgresServer();
    db = await createTestDatabase({ adminUrl: pgServer.url });
    // A 4 s lock: the worker's pause on a database error (half the lock, 2 s) keeps the jobs it holds locked.
    app = await startTestApp({ db, env: { JOB_LOCK_MS: '4000' } });
    const seed = await seedOrganization(app);
    agentKey = seed.agent.key;
    organizationId = seed.org.id;
  });

  afterAll(async () => {
    try {
      await locker?.end().catch(() => undefined);
      // The app closes its pool cleanly only while its database runs.
      if (pgServer && !pgServer.running) await pgServer.start().catch(() => undefined);
      await app?.stop();
    } finally {
      await pgServer?.dispose();
    }
  });

  it('keeps every acknowledged ticket, exactly once, and fails no job', async () => {
    const api = apiClient(app!.baseUrl, agentKey);
    const run = randomBytes(3).toString('hex');

    // Before the outage: the web process now knows the key (it checks it again only every 10 s), so posts with
    // `Prefer: respond-async` need only Redis while Postgres is away.
    const warm = await api.post('/tickets', { subject: `pgr ${run} warm-up`, description: 'before' }, { prefer: 'respond-async' });
    expect(warm.status, warm.text).toBe(202);

    const results: Array<{ subject: string; status: number; code?: string; ms: number; at: number }> = [];
    const started = Date.now();
    const stopAt = started + 8000;
    const maxRequests = 400;
    const lanes = 3;
    // Paced so that the requests spread over the whole 8 s, before, during and after the outage (with room
    // for the burst below within the cap).
    const paceMs = Math.ceil((lanes * 8000) / (maxRequests - 40));
    let sent = 0;

    const post = async (lane: number | string) => {
      const n = sent++;
      const subject = `pgr ${run} ${lane}-${n}`;
      const t0 = Date.now();
      const res = await within(api.post('/tickets', { subject, description: `request ${n}` }, { prefer: 'respond-async' }), 10_000, `POST ${subject}`);
      results.push({ subject, status: res.status, code: errorCodeOf(res), ms: Date.now() - t0, at: t0 - started });
    };
    // Set when any part fails, so that the other lanes stop too instead of posting on into the cleanup.
    let halt = false;
    const loop = async (lane: number) => {
      while (!halt && Date.now() < stopAt && sent < maxRequests) {
        const t0 = Date.now();
        await post(lane);
        await sleep(Math.max(0, paceMs - (Date.now() - t0)));
      }
    };
    const burstSize = 30;
    const blockedOnLock = async () => Number((await query<{ n: string }>(db.url,
      `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`, [db.name]))[0]?.n ?? 0);
    const outage = async () => {
      await sleep(1700);
      // Hold the organization's row, so that intake statements block on their foreign-key check of it, then
      // post a burst: when the server stops, the worker is in the middle of intake transactions, which the
      // server ends (57P01) without committing.
      locker = new pg.Client({ connectionString: db.url });
      locker.on('error', () => undefined);
      await locker.connect();
      await locker.query('BEGIN');
      await locker.query('SELECT id FROM organizations WHERE id = $1 FOR UPDATE', [organizationId]);
      const burst = Promise.all(Array.from({ length: burstSize }, () => post('b')));
      let blockedAtStop = 0;
      await eventually(async () => (blockedAtStop = await blockedOnLock()) >= 5, Math.max(300, 2000 - (Date.now() - started)), 50);
      const downAt = Date.now() - started;
      const activeAtStop = await app!.rt.intakeQueue.getActiveCount();
      await pgServer!.stop();
      const stoppedAt = Date.now() - started;
      await burst;
      await locker.end().catch(() => undefined);
      locker = undefined;
      // While it is away, the database really is unreachable.
      const probe = await query(db.url, 'SELECT 1').then(() => 'answered', (err: { code?: string; message?: string }) => `${err.code ?? ''} ${err.message ?? ''}`.trim());
      await sleep(Math.max(0, 2000 - (Date.now() - started - stoppedAt)));
      await pgServer!.start();
      return { downAt, stoppedAt, upAt: Date.now() - started, probe, activeAtStop, blockedAtStop };
    };
    const settled = await Promise.allSettled([outage(), ...Array.from({ length: lanes }, (_, lane) => loop(lane))]
      .map((task) => task.catch((err: unknown) => { halt = true; throw err; })));
    const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
    const timeline = (settled[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof outage>>>).value;
    const { downAt, stoppedAt, upAt, probe, activeAtStop, blockedAtStop } = timeline;
    expect(probe, 'the database was unreachable while stopped').not.toBe('answered');
    expect(blockedAtStop, 'intake transactions were in flight when the server stopped').toBeGreaterThan(0);

    const statusOf = (r: (typeof results)[number]) => `${r.status}${r.code ? ` ${r.code}` : ''}`;
    const statuses = tally(results.map(statusOf));
    const acknowledged = results.filter((r) => r.status === 201 || r.status === 202).map((r) => r.subject);
    const refused = results.filter((r) => r.status === 503 && (r.code === 'unavailable' || r.code === 'database_unavailable')).map((r) => r.subject);
    const inDoubt = results.filter((r) => r.status === 503 && r.code === 'outcome_unknown').map((r) => r.subject);
    const whileDown = results.filter((r) => r.at >= downAt && r.at < upAt && (r.status === 201 || r.status === 202)).length;
    const afterUp = results.filter((r) => r.at >= upAt && (r.status === 201 || r.status === 202)).length;
    const timing = `postgres stopping at ${downAt} ms (${activeAtStop} jobs active, ${blockedAtStop} statements waiting on the lock), down at ${stoppedAt} ms, up at ${upAt} ms`;
    const summary = `statuses ${JSON.stringify(statuses)}, ${timing}, acknowledged while down ${whileDown}, after ${afterUp}, slowest ${Math.max(...results.map((r) => r.ms))} ms`;

    expect(Object.keys(statuses).filter((s) => !['201', '202', '503 unavailable', '503 database_unavailable', '503 outcome_unknown'].includes(s)), summary).toEqual([]);
    expect(whileDown, `tickets were taken while Postgres was down (${summary})`).toBeGreaterThan(0);
    expect(afterUp, `tickets were taken after the restart (${summary})`).toBeGreaterThan(0);

    // The server really restarted.
    const [row] = await query<{ since: Date }>(db.url, 'SELECT pg_postmaster_start_time() AS since');
    expect(new Date(row!.since).getTime(), 'postmaster start time').toBeGreaterThan(started);

    // Every acknowledged request becomes exactly one ticket, message and receipt once the worker has drained.
    const drainStarted = Date.now();
    const drained = await eventually(async () => notExactlyOnce(await committedBySubject(db.url, organizationId, acknowledged), acknowledged).length === 0, 30_000, 300);
    const drainMs = Date.now() - drainStarted;
    const made = await committedBySubject(db.url, organizationId, acknowledged);
    const missing = notExactlyOnce(made, acknowledged);
    const counts = await app!.rt.intakeQueue.getJobCounts('failed', 'completed', 'wait', 'delayed', 'active', 'prioritized');
    expect(drained, `not committed exactly once (${missing.length}): ${missing.slice(0, 10).map((s) => `${s} ${JSON.stringify(made.get(s) ?? 'nothing')}`).join(', ')}; jobs ${JSON.stringify(counts)}; ${summary}`).toBe(true);

    // Let the queue run dry, so that a job a refused request might have left behind would have been written.
    expect(await eventually(async () => queueIsDry(app!), 10_000), 'the intake queue ran dry').toBe(true);
    const fromRefused = await committedBySubject(db.url, organizationId, refused);
    expect([...fromRefused.keys()], 'requests answered 503 unavailable/database_unavailable made nothing').toEqual([]);
    const fromInDoubt = await committedBySubject(db.url, organizationId, inDoubt);
    expect([...fromInDoubt.entries()].filter(([, m]) => m.tickets !== 1 || m.messages !== 1 || m.receipts !== 1), 'in doubt: at most once').toEqual([]);
    const dupes = await query(db.url, 'SELECT subject FROM tickets WHERE organization_id = $1 GROUP BY subject HAVING count(*) > 1', [organizationId]);
    expect(dupes, 'no subject made two tickets').toEqual([]);

    const jobs = await app!.rt.intakeQueue.getJobs(['completed', 'failed']);
    const ours = jobs.filter((j) => (j.data.event.subject ?? '').startsWith(`pgr ${run} `));
    const failed = ours.filter((j) => j.failedReason).map((j) => `${j.data.event.subject}: ${j.failedReason}`);
    expect(failed, 'no intake job failed').toEqual([]);
    expect(await app!.rt.intakeQueue.getJobCounts('failed')).toEqual({ failed: 0 });

    // The API reads again: the pool has replaced the connections the restart ended.
    let last: ApiResponse | undefined;
    const reads = await eventually(async () => {
      const answers = await Promise.all(Array.from({ length: 12 }, () => api.get('/tickets?per_page=1')));
      last = answers.find((a) => a.status !== 200) ?? answers[0];
      return answers.every((a) => a.status === 200);
    }, 10_000);
    expect(reads, `GET /tickets after the restart: ${last?.status} ${last?.text}`).toBe(true);

    console.info(
      `[postgres-restart] ${results.length} requests, ${summary}; drained ${drainMs} ms after the load; ` +
        `jobs attempts ${JSON.stringify(tally(ours.map((j) => j.attemptsMade)))}, stalls ${JSON.stringify(tally(ours.map((j) => j.stalledCounter)))}`,
    );
  });
});
