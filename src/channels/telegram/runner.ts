import { DelayedError, Worker, type Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Telegraf } from 'telegraf';
import type { Update } from 'telegraf/types';
import type { BotConfig } from '../../persistence/telegram-store.ts';
import { rethrowByPolicy, workerOptions } from '../../workers/retry-policy.ts';
import { createBot, flushAlbum, type BotDeps } from './bot.ts';
import { TELEGRAM_QUEUE, type TelegramJobData } from './updates-queue.ts';

const CACHE_MS = 10_000;
const CHAT_LOCK_MS = 60_000;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/**
 * Handles queued updates. One chat's updates are handled one at a time, across all worker processes (a lock
 * per chat in Redis): two messages sent in the same second must not both open a ticket.
 */
export function startUpdateWorker(deps: BotDeps & { connection: Redis; concurrency: number }): Worker<TelegramJobData> {
  const bots = new Map<string, { at: number; config: BotConfig; bot: Telegraf }>();
  const botFor = async (botId: string) => {
    const hit = bots.get(botId);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit;
    const config = await deps.store.byBotId(botId);
    if (!config) return null;
    // A bot moved to another organization (or re-added) must not keep the old one's handlers.
    const same = hit && hit.config.token === config.token && hit.config.id === config.id && hit.config.organizationId === config.organizationId;
    const entry = { at: Date.now(), config, bot: same ? hit.bot : createBot(deps, config) };
    bots.set(botId, entry);
    return entry;
  };
  const log = deps.logger.child({ worker: TELEGRAM_QUEUE });

  const handle = async (job: Job<TelegramJobData>, token?: string) => {
    const entry = await botFor(job.data.botId);
    if (!entry) {
      log.warn({ botId: job.data.botId }, 'update for a bot that is no longer connected; dropped');
      return 'dropped';
    }
    const chatId = 'album' in job.data ? job.data.album.chatId : chatOf(job.data.update);
    const lockKey = `${deps.queuePrefix}:tg:lock:${job.data.botId}:${chatId ?? 'none'}`;
    const owner = `${job.id}`;
    if (chatId !== null && (await deps.redis.set(lockKey, owner, 'PX', CHAT_LOCK_MS, 'NX')) !== 'OK') {
      // Another update of this chat is being handled: come back in a moment.
      await job.moveToDelayed(Date.now() + 250, token);
      throw new DelayedError();
    }
    // Held for as long as the update takes (a slow intake, a large download): renewed while it runs.
    const heartbeat = chatId === null ? null : setInterval(() => {
      void deps.redis.eval(RENEW, 1, lockKey, owner, String(CHAT_LOCK_MS)).catch(() => undefined);
    }, CHAT_LOCK_MS / 3);
    try {
      if ('album' in job.data) await flushAlbum(deps, entry.bot, entry.config, job.data.album);
      else await entry.bot.handleUpdate(job.data.update as unknown as Update);
      return 'handled';
    } finally {
      if (heartbeat) clearInterval(heartbeat);
      if (chatId !== null) await deps.redis.eval(RELEASE, 1, lockKey, owner).catch(() => undefined);
    }
  };

  const worker: Worker<TelegramJobData> = new Worker<TelegramJobData>(
    TELEGRAM_QUEUE,
    async (job, token) => {
      try {
        return await handle(job, token);
      } catch (err) {
        if (err instanceof DelayedError) throw err;
        return rethrowByPolicy(err, deps.config, worker);
      }
    },
    workerOptions(deps.config, deps.connection, deps.concurrency),
  );
  worker.on('failed', (job, err) => {
    if (job && err.name !== 'DelayedError') log.warn({ jobId: job.id, attempt: job.attemptsMade, reason: err.message }, 'telegram update failed');
  });
  worker.on('error', (err) => log.error({ err: String(err) }, 'telegram worker error'));
  return worker;
}

function chatOf(update: Record<string, unknown>): number | null {
  for (const k of ['message', 'edited_message', 'callback_query', 'my_chat_member']) {
    const v = update[k] as { chat?: { id: number }; message?: { chat?: { id: number } } } | undefined;
    if (!v) continue;
    const id = v.chat?.id ?? v.message?.chat?.id;
    if (typeof id === 'number') return id;
  }
  return null;
}

export type { Queue };
