import http from 'node:http';
import path from 'node:path';
import { Queue, QueueEvents, type Worker } from 'bullmq';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { ApiKeys, forgetApiKey } from '../persistence/api-keys.ts';
import { assertSchemaCurrent, migrate, openDatabase } from '../persistence/database.ts';
import { SqlIntakeStore } from '../persistence/intake-store.ts';
import { markSharedSession } from '../persistence/sql.ts';
import { TicketQueries } from '../persistence/ticket-queries.ts';
import { TicketUpdateStore } from '../persistence/ticket-update-store.ts';
import { LocalDiskStorage } from '../storage/local-disk.ts';
import { createApp } from '../web/app.ts';
import { IntakeProducer } from '../workers/intake-producer.ts';
import { startIntakeWorker } from '../workers/intake-worker.ts';
import { NotificationSenders } from '../workers/notification-senders.ts';
import { startNotificationSweeper, startNotificationWorker } from '../workers/notification-worker.ts';
import { QUEUES, apiKeyRevokedChannel, type IntakeJobData, type IntakeJobResult, type NotifyJobData } from '../workers/queues.ts';
import { checkRedis, createRedis } from '../workers/redis.ts';
import { readLiveEndpoint, writeEndpoint } from './endpoint-file.ts';
import { resolveAppSecret } from '../security/app-secret.ts';
import { startEmailChannel, type EmailChannel } from '../channels/email/index.ts';
import { startTelegramChannel, type TelegramChannel } from '../channels/telegram/index.ts';
import { TELEGRAM_QUEUE, type TelegramJobData } from '../channels/telegram/updates-queue.ts';
import { telegramWebhookRoutes } from '../channels/telegram/webhook.ts';
import { passportRoutes } from '../web/pages/passport.ts';
import { portalRoutes } from '../web/pages/portal.ts';
import { webFormRoutes } from '../web/pages/web-form.ts';
import { TelegramStore } from '../persistence/telegram-store.ts';
import { SecretBox } from '../security/secret-box.ts';
import { redisAnswers, redisServerOnPath, startPrivateRedis } from './private-redis.ts';
import { startSlackChannel, type SlackChannel } from '../channels/slack/index.ts';
import { SLACK_INBOUND, SLACK_OUTBOUND, type SlackInboundJob, type SlackOutboundJob } from '../channels/slack/queues.ts';
import { slackEventRoutes } from '../channels/slack/receiver.ts';
import { SlackStore } from '../persistence/slack-store.ts';

/** Everything a process shares between its web server and its workers. */
export interface Runtime {
  config: Config;
  logger: Logger;
  orm: MikroORM;
  redisUrl: string;
  producerRedis: Redis;
  intakeQueue: Queue<IntakeJobData, IntakeJobResult>;
  notifyQueue: Queue<NotifyJobData>;
  /** Telegram updates between the webhook (or poller) and the worker that handles them. */
  telegramQueue: Queue<TelegramJobData>;
  /** What Slack sent (queued by the web process), and what goes to Slack (paced per channel). */
  slackInboundQueue: Queue<SlackInboundJob>;
  slackOutboundQueue: Queue<SlackOutboundJob>;
  senders: NotificationSenders;
  /** Key material for sealed secrets and signed links (APP_SECRET, or one kept in DATA_DIR). */
  secret: string;
  /** Closers, run in reverse order of creation by `stopRuntime`. */
  closers: Array<{ name: string; close: () => Promise<unknown> }>;
}

/**
 * Connects to Postgres and Redis (or starts embedded/private ones when none are configured), checks that
 * both are fit for use, and opens the queues. Fails with one sentence that says what to do.
 */
export async function startRuntime(config: Config, logger: Logger): Promise<Runtime> {
  const closers: Runtime['closers'] = [];
  try {
    const redisUrl = await resolveRedis(config, logger, closers);
    const orm = await resolveDatabase(config, logger, closers);
    const producerRedis = createRedis(redisUrl, 'producer', 'helpdesk-producer');
    closers.push({ name: 'redis', close: () => producerRedis.quit().catch(() => producerRedis.disconnect()) });
    await waitForRedis(producerRedis, redisUrl);
    const check = await checkRedis(producerRedis);
    if (check.refusal) throw new Error(check.refusal);
    for (const warning of check.warnings) logger.warn(warning);

    const intakeQueue = new Queue<IntakeJobData, IntakeJobResult>(QUEUES.intake, { connection: producerRedis, prefix: config.queuePrefix });
    const notifyQueue = new Queue<NotifyJobData>(QUEUES.notify, { connection: producerRedis, prefix: config.queuePrefix });
    const telegramQueue = new Queue<TelegramJobData>(TELEGRAM_QUEUE, { connection: producerRedis, prefix: config.queuePrefix });
    const slackInboundQueue = new Queue<SlackInboundJob>(SLACK_INBOUND, { connection: producerRedis, prefix: config.queuePrefix });
    const slackOutboundQueue = new Queue<SlackOutboundJob>(SLACK_OUTBOUND, { connection: producerRedis, prefix: config.queuePrefix });
    const queues = [intakeQueue, notifyQueue, telegramQueue, slackInboundQueue, slackOutboundQueue] as Queue[];
    for (const q of queues) q.on('error', (err) => logger.warn({ queue: q.name, err: String(err) }, 'queue error'));
    closers.push({ name: 'queues', close: () => Promise.all(queues.map((q) => q.close())) });
    const secret = resolveAppSecret(config.appSecret, config.dataDir);
    return {
      config, logger, orm, redisUrl, producerRedis, intakeQueue, notifyQueue, telegramQueue, slackInboundQueue, slackOutboundQueue,
      senders: new NotificationSenders(), secret, closers,
    };
  } catch (err) {
    await runClosers(closers, logger);
    throw err;
  }
}

export async function resolveRedis(config: Config, logger: Logger, closers: Runtime['closers']): Promise<string> {
  if (!config.redisIsDefault || (await redisAnswers(config.redisUrl))) return config.redisUrl;
  const shared = readLiveEndpoint(config.dataDir, 'redis');
  if (shared && (await redisAnswers(shared))) return shared;
  if (!redisServerOnPath()) {
    throw new Error(`No Redis answers at ${config.redisUrl} and no redis-server is installed: install Redis (e.g. \`apt-get install redis-server\`) or set REDIS_URL to one that runs.`);
  }
  const redis = await startPrivateRedis(config.dataDir);
  logger.info({ url: redis.url, dir: path.join(config.dataDir, 'redis') }, 'started a private redis-server');
  closers.push({ name: 'private redis', close: () => redis.stop() });
  const forget = writeEndpoint(config.dataDir, 'redis', redis.url);
  closers.push({ name: 'redis endpoint file', close: async () => forget() });
  return redis.url;
}

export async function resolveDatabase(config: Config, logger: Logger, closers: Runtime['closers'], opts: { checkSchema?: boolean } = {}): Promise<MikroORM> {
  if (config.databaseUrl) {
    const orm = await openDatabase(config.databaseUrl, config.dbPoolSize, logger);
    closers.push({ name: 'database', close: () => orm.close() });
    if (opts.checkSchema !== false) await assertSchemaCurrent(orm);
    return orm;
  }
  const shared = readLiveEndpoint(config.dataDir, 'postgres');
  if (shared) {
    const orm = await openDatabase(shared, 4, logger);
    markSharedSession(orm);
    closers.push({ name: 'database', close: () => orm.close() });
    return orm;
  }
  // Loaded only when needed: PGlite alone costs ~50 MB of memory.
  const { startEmbeddedPostgres } = await import('./embedded-postgres.ts');
  const embedded = await startEmbeddedPostgres(config.dataDir);
  closers.push({ name: 'embedded postgres', close: () => embedded.stop() });
  // One backend serves every connection, so a bigger pool only queues longer.
  const orm = await openDatabase(embedded.url, 4, logger);
  markSharedSession(orm);
  closers.push({ name: 'database', close: () => orm.close() });
  const applied = await migrate(orm);
  // Announced only once migrated, so that the CLI never finds a half-made schema.
  const forget = writeEndpoint(config.dataDir, 'postgres', embedded.url);
  closers.push({ name: 'postgres endpoint file', close: async () => forget() });
  logger.info({ dir: path.join(config.dataDir, 'pglite'), applied }, 'using the embedded Postgres (set DATABASE_URL for a real one)');
  return orm;
}

async function waitForRedis(redis: Redis, url: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (redis.status !== 'ready') {
    if (Date.now() > deadline) throw new Error(`Redis at ${url} does not answer; start it or fix REDIS_URL.`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface WebServer { server: http.Server; port: number; stop(): Promise<void> }

/** Serves the web app; `stop` refuses new connections and waits for requests in flight. */
export async function startWeb(rt: Runtime): Promise<WebServer> {
  const eventsRedis = createRedis(rt.redisUrl, 'blocking', 'helpdesk-queue-events');
  const events = new QueueEvents(QUEUES.intake, { connection: eventsRedis, prefix: rt.config.queuePrefix });
  events.on('error', (err) => rt.logger.warn({ err: String(err) }, 'queue events error'));
  rt.closers.push({ name: 'queue events', close: async () => { await events.close(); eventsRedis.disconnect(); } });
  await events.waitUntilReady();
  const revocations = createRedis(rt.redisUrl, 'blocking', 'helpdesk-apikey-revocations');
  revocations.on('message', (_channel: string, keyId: string) => forgetApiKey(keyId));
  await revocations.subscribe(apiKeyRevokedChannel(rt.config.queuePrefix));
  rt.closers.push({ name: 'revocation listener', close: async () => revocations.disconnect() });
  const storage = new LocalDiskStorage(path.join(rt.config.dataDir, 'attachments'));
  const producer = new IntakeProducer(rt.intakeQueue, events, rt.config);
  const app = createApp({
    config: rt.config,
    logger: rt.logger,
    orm: rt.orm,
    storage,
    producer,
    notifyQueue: rt.notifyQueue,
    keys: apiKeysFor(rt),
    queries: new TicketQueries(rt.orm),
    updates: new TicketUpdateStore(rt.orm),
    intakeStore: new SqlIntakeStore(rt.orm),
    secret: rt.secret,
    redis: rt.producerRedis,
    channelRoutes: [
      telegramWebhookRoutes({ config: rt.config, store: new TelegramStore(rt.orm, new SecretBox(rt.secret)), queue: rt.telegramQueue }),
      slackEventRoutes({ config: rt.config, store: new SlackStore(rt.orm, new SecretBox(rt.secret)), queue: rt.slackInboundQueue, logger: rt.logger }),
      passportRoutes({ config: rt.config, orm: rt.orm, storage, producer, redis: rt.producerRedis, secret: rt.secret }),
      webFormRoutes({ config: rt.config, orm: rt.orm, storage, producer, redis: rt.producerRedis, secret: rt.secret }),
      portalRoutes({ config: rt.config, orm: rt.orm, storage, producer, notifyQueue: rt.notifyQueue, redis: rt.producerRedis, secret: rt.secret }),
    ],
  });
  const server = http.createServer(app.callback());
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(rt.config.port, rt.config.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  rt.logger.info({ port, host: rt.config.host }, 'web server listening');
  return {
    server,
    port,
    stop: () => new Promise<void>((resolve) => {
      // Keep-alive connections that finish their request after close() would hold it open; end them as
      // they fall idle.
      const sweep = setInterval(() => server.closeIdleConnections(), 50);
      server.close(() => {
        clearInterval(sweep);
        resolve();
      });
      server.closeIdleConnections();
    }),
  };
}

/** API keys whose revocations reach every web process at once. */
export function apiKeysFor(rt: Pick<Runtime, 'orm' | 'producerRedis' | 'config'>): ApiKeys {
  return new ApiKeys(rt.orm, async (keyId) => {
    await rt.producerRedis.publish(apiKeyRevokedChannel(rt.config.queuePrefix), keyId);
  });
}

export interface Workers { intake: Worker; notify: Worker; stop(timeoutMs: number): Promise<void> }

export interface WorkerOptions {
  /** Passed to the email channel: how soon an idle IMAP connection enters IDLE, how often mailboxes are listed. */
  email?: false | { idleDelayMs?: number; refreshMs?: number };
  /** Passed to the Telegram channel: how often bots are listed, the long-poll timeout. */
  telegram?: false | { refreshMs?: number; pollTimeoutSeconds?: number };
  /** False: no Slack workers in this process. */
  slack?: false;
}

/** Runs the intake and notification workers; `stop` lets running jobs finish, then gives the rest back. */
export async function startWorkers(rt: Runtime, options: WorkerOptions = {}): Promise<Workers> {
  const workerRedis = createRedis(rt.redisUrl, 'blocking', 'helpdesk-worker');
  const eventsRedis = createRedis(rt.redisUrl, 'blocking', 'helpdesk-worker-events');
  const events = new QueueEvents(QUEUES.intake, { connection: eventsRedis, prefix: rt.config.queuePrefix });
  events.on('error', (err) => rt.logger.warn({ err: String(err) }, 'queue events error'));
  const producer = new IntakeProducer(rt.intakeQueue, events, rt.config);
  let email: EmailChannel | null = null;
  let telegram: TelegramChannel | null = null;
  let slack: SlackChannel | null = null;
  const slackRedis = options.slack === false ? null : createRedis(rt.redisUrl, 'blocking', 'helpdesk-slack-worker');
  const telegramRedis = createRedis(rt.redisUrl, 'blocking', 'helpdesk-telegram-worker');
  const intake = startIntakeWorker({ config: rt.config, orm: rt.orm, logger: rt.logger, connection: workerRedis, notifyQueue: rt.notifyQueue });
  const notify = startNotificationWorker({ config: rt.config, orm: rt.orm, logger: rt.logger, connection: workerRedis, senders: rt.senders });
  const stopSweeper = startNotificationSweeper({ config: rt.config, orm: rt.orm, logger: rt.logger, queue: rt.notifyQueue });
  let stopped = false;
  const workers: Workers = {
    intake,
    notify,
    async stop(timeoutMs: number) {
      if (stopped) return;
      stopped = true;
      stopSweeper();
      // Mail readers first: a mail being taken waits for its intake job, which the workers must still run.
      await email?.stop().catch((err) => rt.logger.warn({ err: String(err) }, 'error while stopping the email channel'));
      await telegram?.stop().catch((err) => rt.logger.warn({ err: String(err) }, 'error while stopping the Telegram channel'));
      telegramRedis.disconnect();
      await slack?.stop().catch((err) => rt.logger.warn({ err: String(err) }, 'error while stopping the Slack channel'));
      slackRedis?.disconnect();
      await events.close().catch(() => undefined);
      eventsRedis.disconnect();
      const graceful = Promise.all([intake.close(), notify.close()]);
      const timedOut = await Promise.race([
        graceful.then(() => false),
        new Promise<boolean>((r) => setTimeout(() => r(true), timeoutMs).unref()),
      ]);
      if (timedOut) {
        // Jobs still running keep their lock until it expires; another worker then takes them again.
        rt.logger.warn('workers did not finish in time; leaving their jobs to be retried');
        await Promise.all([intake.close(true), notify.close(true)]);
      }
      // BullMQ does not close a connection it was handed.
      workerRedis.disconnect();
    },
  };
  try {
    await Promise.all([intake.waitUntilReady(), notify.waitUntilReady(), events.waitUntilReady()]);
    if (options.email !== false) email = await startEmailChannel({
      config: rt.config, orm: rt.orm, redis: rt.producerRedis, logger: rt.logger, secret: rt.secret, senders: rt.senders,
      storage: new LocalDiskStorage(path.join(rt.config.dataDir, 'attachments')),
      submit: (event) => producer.submitAndWait(event, 60_000),
      ...options.email,
    });
    if (options.telegram !== false) telegram = await startTelegramChannel({
      config: rt.config, orm: rt.orm, redis: rt.producerRedis, workerConnection: telegramRedis, logger: rt.logger, secret: rt.secret,
      senders: rt.senders, queue: rt.telegramQueue, storage: new LocalDiskStorage(path.join(rt.config.dataDir, 'attachments')),
      submit: (event) => producer.submitAndWait(event, 60_000),
      ...options.telegram,
    });
    if (slackRedis) slack = await startSlackChannel({
      config: rt.config, orm: rt.orm, redis: rt.producerRedis, workerConnection: slackRedis, logger: rt.logger, secret: rt.secret,
      senders: rt.senders, inboundQueue: rt.slackInboundQueue, outboundQueue: rt.slackOutboundQueue, notifyQueue: rt.notifyQueue,
      storage: new LocalDiskStorage(path.join(rt.config.dataDir, 'attachments')),
      submit: (event) => producer.submitAndWait(event, 60_000),
    });
  } catch (err) {
    await workers.stop(1000);
    throw err;
  }
  rt.logger.info({ concurrency: rt.config.intakeConcurrency }, 'workers running');
  return workers;
}

export async function stopRuntime(rt: Runtime): Promise<void> {
  await runClosers(rt.closers, rt.logger);
}

async function runClosers(closers: Runtime['closers'], logger: Logger): Promise<void> {
  while (closers.length > 0) {
    const c = closers.pop()!;
    try {
      await c.close();
    } catch (err) {
      logger.warn({ what: c.name, err: String(err) }, 'error while closing');
    }
  }
}
