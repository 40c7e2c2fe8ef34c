import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, redisAnswers, startPrivateRedis, type PrivateRedis } from '../../src/runtime/private-redis.ts';

/**
 * The embedded default, from nothing: the real app started as a child process with no DATABASE_URL and an
 * empty DATA_DIR must create its own Postgres (PGlite in `<DATA_DIR>/pglite`), migrate it, share it with the
 * CLI through `<DATA_DIR>/postgres.endpoint`, stop cleanly on SIGTERM and find its data again on the next
 * start. Redis is the local one (REDIS_URL); the private redis-server is tested on its own below.
 */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LOCAL_REDIS = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Every child this file starts, so that afterAll can kill what a failed test left running. */
const children = new Set<ChildProcess>();
const tempDirs: string[] = [];

function killAll(): void {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null || !child.pid) continue;
    // An app leads its own process group (detached), so this also ends anything it started.
    try { process.kill(-child.pid, 'SIGKILL'); } catch { child.kill('SIGKILL'); }
  }
}
process.once('exit', killAll);

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hd-embedded-'));
  tempDirs.push(dir);
  return dir;
}


/** A clean environment: no DATABASE_URL, nothing inherited but what a shell needs. */
function appEnv(dataDir: string, queuePrefix: string, port = 0): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATA_DIR: dataDir,
    PORT: String(port),
    HOST: '127.0.0.1',
    QUEUE_PREFIX: queuePrefix,
    REDIS_URL: LOCAL_REDIS,
    LOG_LEVEL: 'warn',
  };
}

interface AppProcess {
  child: ChildProcess;
  baseUrl: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `node --import tsx src/main.ts all`: one process, so the signal reaches the app itself. */
async function startApp(env: NodeJS.ProcessEnv): Promise<AppProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'all'], {
    cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  children.add(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const app = { child, baseUrl: `http://127.0.0.1:${env.PORT}`, output: () => output, exited };
  // A fresh PGlite takes ~7 s on an idle machine; ~28 s was seen with the whole suite running beside it.
  await waitReady(app, 90_000);
  return app;
}

async function waitReady(app: AppProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { exitCode, signalCode } = app.child;
    if (exitCode !== null || signalCode !== null) throw new Error(`the app exited (${exitCode ?? signalCode}) before it was ready:\n${app.output()}`);
    try {
      const res = await fetch(`${app.baseUrl}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`/readyz did not answer 200 within ${timeoutMs} ms:\n${app.output()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Sends SIGTERM and waits (bounded) for the exit. */
async function stopApp(app: AppProcess, timeoutMs = 20_000) {
  app.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    app.exited,
    new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), timeoutMs); }),
  ]);
  clearTimeout(timer);
  return result;
}

/** Runs the CLI like an administrator would, with the app's environment; returns its JSON output. */
function cli(env: NodeJS.ProcessEnv, ...args: string[]): Promise<any> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], { cwd: repoRoot, env, timeout: 45_000 }, (err, stdout, stderr) => {
      children.delete(child);
      if (err) return reject(new Error(`cli ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      try {
        resolve(JSON.parse(stdout));
      } catch {
        reject(new Error(`cli ${args.join(' ')} printed no JSON:\n${stdout}\n${stderr}`));
      }
    });
    children.add(child);
  });
}

async function api(baseUrl: string, key: string, method: string, url: string, json?: unknown) {
  const res = await fetch(`${baseUrl}/api/v1${url}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(json !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: json !== undefined ? JSON.stringify(json) : undefined,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let body: any = text;
  try { body = JSON.parse(text); } catch { /* not JSON: keep the text for the assertion message */ }
  return { status: res.status, body };
}

/** Removes this file's queue keys from the shared Redis. */
async function dropQueueKeys(prefix: string): Promise<void> {
  const redis = new Redis(LOCAL_REDIS, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } catch {
    // Redis is not this file's subject.
  } finally {
    redis.disconnect();
  }
}

afterAll(async () => {
  const alive = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
  killAll();
  await Promise.race([
    Promise.all(alive.map((c) => new Promise((r) => c.once('exit', r)))),
    new Promise((r) => setTimeout(r, 5000)),
  ]);
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
}, 15_000);

describe('the embedded default (no DATABASE_URL)', () => {
  const dataDir = tempDir();
  const queuePrefix = `emb${randomBytes(5).toString('hex')}`;
  const endpointFile = path.join(dataDir, 'postgres.endpoint');
  let env: NodeJS.ProcessEnv;
  let app: AppProcess;
  let key: string;

  afterAll(() => dropQueueKeys(queuePrefix));

  it('starts from an empty DATA_DIR with its own Postgres and answers /readyz', async () => {
    env = appEnv(dataDir, queuePrefix, await freePort());
    const started = Date.now();
    app = await startApp(env);
    console.info(`embedded: first start (fresh PGlite + migrations) ready in ${Date.now() - started} ms`);
    expect(fs.existsSync(path.join(dataDir, 'pglite', 'PG_VERSION'))).toBe(true);
    const endpoint = JSON.parse(fs.readFileSync(endpointFile, 'utf8'));
    expect(endpoint).toEqual({ url: expect.stringMatching(/^postgresql:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/), pid: app.child.pid });
  }, 120_000);

  it('lets the CLI create an organization, an agent and a key in the running app\'s database', async () => {
    const org = await cli(env, 'org', 'create', '--name', 'Embedded Co');
    expect(org).toMatchObject({ name: 'Embedded Co', slug: 'embedded-co' });
    const user = await cli(env, 'user', 'create', '--org', org.slug, '--role', 'agent', '--email', 'agent@embedded.test', '--name', 'Ann Agent');
    expect(user).toMatchObject({ email: 'agent@embedded.test', role: 'agent' });
    const created = await cli(env, 'apikey', 'create', '--user', 'agent@embedded.test', '--name', 'test');
    expect(created).toMatchObject({ userId: user.id, role: 'agent', key: expect.stringMatching(/^hd_/) });
    key = created.key;
    // The CLI used the app's server, not a PGlite of its own: the app still owns the endpoint.
    expect(JSON.parse(fs.readFileSync(endpointFile, 'utf8')).pid).toBe(app.child.pid);
  }, 150_000);

  it('opens a ticket through the API and reads it back', async () => {
    const created = await api(app.baseUrl, key, 'POST', '/tickets', { subject: 'Lift 2 is stuck', description: 'Between floors 3 and 4.' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ number: 1001, subject: 'Lift 2 is stuck', status: 'new' });
    const read = await api(app.baseUrl, key, 'GET', '/tickets/1001');
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ number: 1001, subject: 'Lift 2 is stuck', description: 'Between floors 3 and 4.' });
    expect(read.body.messages.data).toHaveLength(1);
  });

  it('serves many requests at once on its one shared database session', async () => {
    // Writes, reads and status changes all in flight together, as a team trying it out would cause.
    const [created, reads, updates] = await Promise.all([
      Promise.all(Array.from({ length: 10 }, (_, i) => api(app.baseUrl, key, 'POST', '/tickets', { subject: `Parallel ${i}` }))),
      Promise.all(Array.from({ length: 10 }, () => api(app.baseUrl, key, 'GET', '/tickets?per_page=50'))),
      Promise.all([api(app.baseUrl, key, 'PATCH', '/tickets/1001', { status: 'in_progress' }), api(app.baseUrl, key, 'GET', '/tickets/1001/events')]),
    ]);
    expect(created.filter((r) => r.status !== 201 && r.status !== 202), app.output()).toEqual([]);
    expect(reads.map((r) => r.status), app.output()).toEqual(Array(10).fill(200));
    expect(updates.map((r) => r.status), app.output()).toEqual([200, 200]);
    expect(updates[0]!.body).toMatchObject({ number: 1001, status: 'in_progress' });
    const deadline = Date.now() + 20_000;
    let list: any;
    do {
      list = (await api(app.baseUrl, key, 'GET', '/tickets?per_page=50&sort=number')).body;
      if (list.total === 11) break;
      await new Promise((r) => setTimeout(r, 200));
    } while (Date.now() < deadline);
    expect(list.data.map((t: { number: number }) => t.number)).toEqual(Array.from({ length: 11 }, (_, i) => 1001 + i));
  });

  it('exits with code 0 on SIGTERM and removes the endpoint file', async () => {
    const started = Date.now();
    const result = await stopApp(app);
    console.info(`embedded: SIGTERM to exit ${Date.now() - started} ms`);
    expect(result, app.output()).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(endpointFile)).toBe(false);
  }, 30_000);

  it('finds the ticket again after a restart on the same DATA_DIR', async () => {
    env = { ...env, PORT: String(await freePort()) };
    const started = Date.now();
    app = await startApp(env);
    console.info(`embedded: restart on the existing PGlite ready in ${Date.now() - started} ms`);
    const read = await api(app.baseUrl, key, 'GET', '/tickets/1001');
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ number: 1001, subject: 'Lift 2 is stuck' });
    const next = await api(app.baseUrl, key, 'POST', '/tickets', { subject: 'Second', description: 'After the restart.' });
    expect(next.status).toBe(201);
    expect(next.body.number).toBe(1012);
    expect(await stopApp(app), app.output()).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(endpointFile)).toBe(false);
  }, 120_000);
});

describe('the private redis-server', () => {
  let redis: PrivateRedis | undefined;
  let pid: number | undefined;

  afterAll(async () => {
    await redis?.stop();
    if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* stopped */ }
  });

  it('starts in DATA_DIR/redis with persistence and no eviction, answers, and stop() ends the process', async () => {
    const dataDir = tempDir();
    redis = await startPrivateRedis(dataDir);
    const url = redis.url;
    expect(url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    expect(await redisAnswers(url)).toBe(true);

    const client = new Redis(url, { maxRetriesPerRequest: 1 });
    try {
      pid = Number(/process_id:(\d+)/.exec(await client.info('server'))?.[1]);
      expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      expect(await client.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
      expect(await client.config('GET', 'dir')).toEqual(['dir', path.join(dataDir, 'redis')]);
    } finally {
      client.disconnect();
    }
    expect(pid).toBeGreaterThan(0);

    await redis.stop();
    redis = undefined;
    expect(() => process.kill(pid!, 0)).toThrow();
    expect(await redisAnswers(url)).toBe(false);
  }, 30_000);
});
