import type { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Telegram } from 'telegraf';
import { MailStore } from '../../persistence/mail-store.ts';
import { ReporterActions } from '../../persistence/reporter-actions.ts';
import { ReporterLinks } from '../../persistence/reporter-links.ts';
import { TelegramStore, type BotConfig } from '../../persistence/telegram-store.ts';
import { SecretBox } from '../../security/secret-box.ts';
import { every } from '../../workers/every.ts';
import { Lease } from '../../workers/lease.ts';
import { ALLOWED_UPDATES, BotPoller } from './poller.ts';
import { startUpdateWorker } from './runner.ts';
import { TelegramSender } from './sender.ts';
import type { TelegramJobData } from './updates-queue.ts';
import type { ChannelWorkerDeps } from '../channel-deps.ts';

export interface TelegramChannelDeps extends ChannelWorkerDeps {
  queue: Queue<TelegramJobData>;
  refreshMs?: number;
  pollTimeoutSeconds?: number;
}

export interface TelegramChannel { stop(): Promise<void> }

const LEASE_MS = 30_000;

/** Commands shown in Telegram's menu, per language. */
const COMMANDS = {
  en: [{ command: 'new', description: 'Open a new request' }, { command: 'my', description: 'My requests' }, { command: 'start', description: 'About this bot' }],
  ru: [{ command: 'new', description: 'Новое обращение' }, { command: 'my', description: 'Мои обращения' }, { command: 'start', description: 'О боте' }],
  de: [{ command: 'new', description: 'Neue Anfrage' }, { command: 'my', description: 'Meine Anfragen' }, { command: 'start', description: 'Über diesen Bot' }],
};

/**
 * The Telegram channel of a worker process: handles queued updates, sends notifications into chats, and
 * keeps every enabled bot connected: its commands registered, its webhook set (webhook mode) or one poller
 * for it across all processes (polling mode, by a Redis lease).
 */
export async function startTelegramChannel(deps: TelegramChannelDeps): Promise<TelegramChannel> {
  const log = deps.logger.child({ channel: 'telegram' });
  const store = new TelegramStore(deps.orm, new SecretBox(deps.secret));
  await defineEnvironmentBot(deps, store, log);
  deps.senders.register(new TelegramSender({ store, redis: deps.redis, queuePrefix: deps.config.queuePrefix, messages: new MailStore(deps.orm), storage: deps.storage, apiRoot: deps.config.telegram.apiRoot, logger: log }));
  const worker: Worker<TelegramJobData> = startUpdateWorker({
    config: deps.config, store, storage: deps.storage, logger: log, submit: deps.submit, apiRoot: deps.config.telegram.apiRoot,
    redis: deps.redis, queue: deps.queue, queuePrefix: deps.config.queuePrefix, joinWindowMs: deps.config.telegram.joinWindowMs,
    connection: deps.workerConnection, concurrency: deps.config.telegram.concurrency, actions: new ReporterActions(deps.orm), links: new ReporterLinks(deps.orm),
  });

  const prepared = new Map<string, string>();
  const pollers = new Map<string, { poller: BotPoller; lease: Lease; renewal: NodeJS.Timeout }>();
  let stopped = false;
  const stopPoller = async (id: string) => {
    const p = pollers.get(id);
    if (!p) return;
    pollers.delete(id);
    clearInterval(p.renewal);
    await p.poller.stop();
    await p.lease.release().catch(() => undefined);
  };
  const refresh = async () => {
    const bots = await store.enabled();
    for (const [id, p] of [...pollers]) {
      const bot = bots.find((b) => b.id === id);
      // Removed, switched to webhook, or given a new token: this poller must not go on with the old one.
      if (!bot || bot.mode !== 'polling' || bot.token !== p.poller.token) await stopPoller(id);
    }
    for (const bot of bots) {
      if (stopped) return;
      await prepare(bot).catch(async (err) => {
        log.warn({ bot: bot.username, err: String((err as Error).message ?? err) }, 'could not set the bot up');
        await store.noteError(bot.id, String((err as Error).message ?? err)).catch(() => undefined);
      });
      if (bot.mode !== 'polling' || pollers.has(bot.id)) continue;
      const lease = new Lease(deps.redis, `${deps.config.queuePrefix}:telegram-poller:${bot.botId}`, LEASE_MS);
      if (!(await lease.acquire())) continue;
      const poller = new BotPoller({ bot, store, queue: deps.queue, config: deps.config, logger: log, timeoutSeconds: deps.pollTimeoutSeconds });
      const renewal = setInterval(() => {
        void lease.renew().then((held) => { if (!held) void stopPoller(bot.id); }, () => void stopPoller(bot.id));
      }, LEASE_MS / 3);
      renewal.unref();
      pollers.set(bot.id, { poller, lease, renewal });
      poller.start();
    }
  };
  /** Commands in three languages and the webhook (or its removal), once per bot and token in this process. */
  const prepare = async (bot: BotConfig) => {
    const stamp = `${bot.token}:${bot.mode}`;
    if (prepared.get(bot.id) === stamp) return;
    const telegram = new Telegram(bot.token, { apiRoot: deps.config.telegram.apiRoot });
    await telegram.setMyCommands(COMMANDS.en);
    await telegram.setMyCommands(COMMANDS.ru, { language_code: 'ru' });
    await telegram.setMyCommands(COMMANDS.de, { language_code: 'de' });
    if (bot.mode === 'webhook') {
      await telegram.setWebhook(`${deps.config.publicUrl}/telegram/${bot.botId}`, { secret_token: bot.webhookSecret, allowed_updates: [...ALLOWED_UPDATES] });
    } else {
      await telegram.deleteWebhook();
    }
    prepared.set(bot.id, stamp);
    log.info({ bot: bot.username, mode: bot.mode }, 'bot connected');
  };

  const schedule = every(Math.min(deps.refreshMs ?? 10_000, LEASE_MS / 3), refresh, log, 'read the bot list');

  return {
    async stop() {
      stopped = true;
      await schedule.stop();
      await Promise.all([...pollers.keys()].map(stopPoller));
      await worker.close();
    },
  };
}

/** Connects the bot the environment names (TELEGRAM_BOT_TOKEN, TELEGRAM_ORGANIZATION), checking it with getMe. */
async function defineEnvironmentBot(deps: TelegramChannelDeps, store: TelegramStore, log: Logger): Promise<void> {
  const t = deps.config.telegram;
  if (!t.botToken || !t.organization) return;
  const org = await deps.orm.em.fork().getConnection().execute<Array<{ id: string }>>('SELECT id FROM organizations WHERE slug = ?', [t.organization]);
  if (!org[0]) throw new Error(`TELEGRAM_ORGANIZATION is "${t.organization}", but no organization has that slug: create it (npm run cli -- org create) or fix the variable.`);
  const me = await new Telegram(t.botToken, { apiRoot: t.apiRoot }).getMe();
  await store.addBot({ organizationId: org[0].id, botId: String(me.id), username: me.username, token: t.botToken, mode: t.mode }, { replace: true });
  log.info({ bot: me.username, mode: t.mode }, 'bot defined by the environment');
}
