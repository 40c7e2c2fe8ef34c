import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { ApiKeys } from '../../src/persistence/api-keys.ts';
import { openDatabase } from '../../src/persistence/database.ts';
import { Directory } from '../../src/persistence/directory.ts';
import { startRuntime } from '../../src/runtime/runtime.ts';
import { createTestDatabase, query, type TestDatabase } from '../support/database.ts';
import { freePort, startRedisServer, type TestRedisServer } from '../support/redis-server.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe('start-up checks', () => {
  it('refuse a Redis that may evict queued jobs, saying why and what to do', async () => {
    const redis: TestRedisServer = await startRedisServer();
    cleanups.push(() => redis.dispose());
    const admin = new Redis(redis.url);
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    admin.disconnect();
    const db: TestDatabase = await createTestDatabase();
    cleanups.push(() => db.drop());
    const config = loadConfig({ DATABASE_URL: db.url, REDIS_URL: redis.url, DATA_DIR: os.tmpdir(), LOG_LEVEL: 'silent' });
    await expect(startRuntime(config, pino({ level: 'silent' }))).rejects.toThrow(/maxmemory-policy=allkeys-lru.*noeviction/s);
  });

  it('refuse a database whose schema is behind, naming the command that fixes it', async () => {
    const db = await createTestDatabase({ migrated: false });
    cleanups.push(() => db.drop());
    const config = loadConfig({ DATABASE_URL: db.url, DATA_DIR: os.tmpdir(), LOG_LEVEL: 'silent' });
    await expect(startRuntime(config, pino({ level: 'silent' }))).rejects.toThrow(/npm run migrate/);
  });
});

describe('graceful shutdown', () => {
  it('on SIGTERM stops taking requests, commits what it accepted, and exits 0', async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const orm = await openDatabase(db.url, 2);
    const org = await new Directory(orm).createOrganization('Shutdown Co');
    const user = await new Directory(orm).createUser(org.id, { email: 'a@shutdown.test', role: 'agent' });
    const { key } = await new ApiKeys(orm).create(user.id);
    await orm.close();

    const port = await freePort();
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'hd-life-'));
    cleanups.push(() => fs.rm(dataDir, { recursive: true, force: true }));
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'all'], {
      env: { ...process.env, DATABASE_URL: db.url, REDIS_URL: 'redis://127.0.0.1:6379', PORT: String(port), HOST: '127.0.0.1', QUEUE_PREFIX: `t${randomBytes(5).toString('hex')}`, DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    cleanups.push(async () => { if (child.exitCode === null) child.kill('SIGKILL'); });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    while (!(await fetch(`${base}/readyz`).then((r) => r.ok, () => false))) {
      if (Date.now() > deadline) throw new Error('the app did not become ready');
      await new Promise((r) => setTimeout(r, 100));
    }

    const post = (i: number) => fetch(`${base}/api/v1/tickets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ subject: `shutdown ${i}` }),
    }).then((r) => r.status, () => 0);
    const inFlight = Array.from({ length: 40 }, (_, i) => post(i));
    await new Promise((r) => setTimeout(r, 30));
    child.kill('SIGTERM');
    const statuses = await Promise.all(inFlight);
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 30_000))]);
    expect(code).toBe(0);

    const accepted = statuses.filter((s) => s === 201 || s === 202).length;
    expect(accepted).toBeGreaterThan(0);
    const rows = await query<{ n: string }>(db.url, `SELECT count(*) AS n FROM tickets`);
    // Every request it acknowledged is committed (202s may finish on the next start; here the worker drained them).
    expect(Number(rows[0]!.n)).toBeGreaterThanOrEqual(statuses.filter((s) => s === 201).length);
    expect(await fetch(`${base}/healthz`).then(() => 'up', () => 'down')).toBe('down');
  });
});
