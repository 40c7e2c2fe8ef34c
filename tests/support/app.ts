import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { loadConfig, type Config } from '../../src/config/index.ts';
import { ApiKeys } from '../../src/persistence/api-keys.ts';
import { Directory } from '../../src/persistence/directory.ts';
import { startRuntime, startWeb, startWorkers, stopRuntime, type Runtime, type WebServer, type WorkerOptions, type Workers } from '../../src/runtime/runtime.ts';
import type { Role } from '../../src/core/vocabulary.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

export interface TestApp {
  config: Config;
  rt: Runtime;
  web?: WebServer;
  workers?: Workers;
  db: TestDatabase;
  baseUrl: string;
  dataDir: string;
  directory: Directory;
  keys: ApiKeys;
  stop(): Promise<void>;
}

/**
 * The whole application in this process, on a database of its own, a queue prefix of its own and a free
 * port, with Redis at REDIS_URL (default the local one).
 */
export async function startTestApp(opts: { env?: Record<string, string>; web?: boolean; workers?: boolean; db?: TestDatabase; workerOptions?: WorkerOptions } = {}): Promise<TestApp> {
  const db = opts.db ?? (await createTestDatabase());
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'hd-test-'));
  const config = loadConfig({
    DATABASE_URL: db.url,
    REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: `t${randomBytes(5).toString('hex')}`,
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DB_POOL_SIZE: '10',
    ...opts.env,
  });
  const logger = pino({ level: config.logLevel });
  const rt = await startRuntime(config, logger);
  let workers: Workers | undefined;
  let web: WebServer | undefined;
  try {
    workers = opts.workers === false ? undefined : await startWorkers(rt, opts.workerOptions);
    web = opts.web === false ? undefined : await startWeb(rt);
  } catch (err) {
    await workers?.stop(1000);
    await stopRuntime(rt);
    if (!opts.db) await db.drop();
    await fs.rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    config, rt, web, workers, db, dataDir,
    baseUrl: web ? `http://127.0.0.1:${web.port}` : '',
    directory: new Directory(rt.orm),
    keys: new ApiKeys(rt.orm),
    async stop() {
      await web?.stop();
      await workers?.stop(5000);
      await cleanQueues(rt);
      await stopRuntime(rt);
      if (!opts.db) await db.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Removes this test's keys from the shared Redis. */
async function cleanQueues(rt: Runtime): Promise<void> {
  try {
    await rt.intakeQueue.obliterate({ force: true });
    await rt.notifyQueue.obliterate({ force: true });
    await rt.telegramQueue.obliterate({ force: true });
    await rt.slackInboundQueue.obliterate({ force: true });
    await rt.slackOutboundQueue.obliterate({ force: true });
  } catch {
    // Redis may be the thing a test stopped.
  }
}

export interface Person { id: string; organizationId: string; key: string; role: Role; email: string }

/** An organization with an admin, an agent and a customer, each with an API key. */
export async function seedOrganization(app: TestApp, name = `Org ${randomBytes(3).toString('hex')}`) {
  const org = await app.directory.createOrganization(name);
  const person = async (role: Role, email: string): Promise<Person> => {
    const user = await app.directory.createUser(org.id, { email, role, name: `${role} ${email}` });
    const { key } = await app.keys.create(user.id, 'test');
    return { id: user.id, organizationId: org.id, key, role, email };
  };
  return {
    org,
    admin: await person('admin', `admin@${org.slug}.test`),
    agent: await person('agent', `agent@${org.slug}.test`),
    customer: await person('customer', `customer@${org.slug}.test`),
    person,
  };
}

export interface ApiResponse<T = any> { status: number; headers: Headers; body: T; text: string }

/** A small client for the REST API. */
export function apiClient(baseUrl: string, key?: string) {
  const call = async (method: string, url: string, init: { json?: unknown; body?: BodyInit; headers?: Record<string, string> } = {}): Promise<ApiResponse> => {
    const headers: Record<string, string> = { ...(key ? { authorization: `Bearer ${key}` } : {}), ...init.headers };
    let body = init.body;
    if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.json);
    }
    const res = await fetch(`${baseUrl}/api/v1${url}`, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON (a download).
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  };
  return {
    get: (url: string, headers?: Record<string, string>) => call('GET', url, { headers }),
    post: (url: string, json: unknown, headers?: Record<string, string>) => call('POST', url, { json, headers }),
    patch: (url: string, json: unknown, headers?: Record<string, string>) => call('PATCH', url, { json, headers }),
    raw: call,
  };
}
