import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import { Telegram, TelegramError } from 'telegraf';
import type { Config } from '../../config/index.ts';
import type { BotConfig, TelegramStore } from '../../persistence/telegram-store.ts';
import { enqueueUpdates, type TelegramJobData, type TelegramUpdate } from './updates-queue.ts';

export const ALLOWED_UPDATES = ['message', 'edited_message', 'callback_query', 'my_chat_member'] as const;
const BACKOFF_MS = [1000, 2000, 5000, 10_000, 30_000];

/**
 * Long polling for installs without a public HTTPS address: getUpdates from the stored offset, every update
 * onto the queue, then the offset past them, so that an update is confirmed to Telegram only once it is safe
 * in Redis. One poller per bot across all processes (the caller holds a lease).
 */
export class BotPoller {
  private stopped = false;
  private abort = new AbortController();
  private running: Promise<void> | null = null;

  get token(): string {
    return this.o.bot.token;
  }

  constructor(private readonly o: { bot: BotConfig; store: TelegramStore; queue: Queue<TelegramJobData>; config: Config; logger: Logger; timeoutSeconds?: number }) {}

  start(): void {
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    const { bot, store, queue, config } = this.o;
    const telegram = new Telegram(bot.token, { apiRoot: config.telegram.apiRoot });
    const log = this.o.logger.child({ bot: bot.username });
    let failures = 0;
    let offset = await store.offset(bot.id).catch(() => 0);
    while (!this.stopped) {
      try {
        const updates = await telegram.callApi('getUpdates', {
          offset, limit: 100, timeout: this.o.timeoutSeconds ?? 25, allowed_updates: [...ALLOWED_UPDATES],
        }, { signal: this.abort.signal as never }) as unknown as TelegramUpdate[];
        if (updates.length > 0) {
          await enqueueUpdates(queue, config, bot.botId, updates);
          offset = Math.max(...updates.map((u) => u.update_id)) + 1;
          await store.saveOffset(bot.id, offset);
        }
        failures = 0;
      } catch (err) {
        if (this.stopped) break;
        if (err instanceof TelegramError && err.code === 409 && /webhook/i.test(err.description)) {
          // A webhook is set: polling and webhooks exclude each other, and this bot is configured to poll.
          log.warn('a webhook was set for a bot configured for polling; removing it');
          await telegram.deleteWebhook().catch(() => undefined);
          continue;
        }
        const delay = err instanceof TelegramError && err.code === 429
          ? (err.parameters?.retry_after ?? 1) * 1000
          : BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)]!;
        failures += 1;
        log.warn({ err: String((err as Error).message ?? err), retryInMs: delay }, 'getUpdates failed');
        await store.noteError(bot.id, String((err as Error).message ?? err)).catch(() => undefined);
        await new Promise<void>((resolve) => {
          const onAbort = () => { clearTimeout(timer); resolve(); };
          const timer = setTimeout(() => { this.abort.signal.removeEventListener('abort', onAbort); resolve(); }, delay);
          this.abort.signal.addEventListener('abort', onAbort, { once: true });
        });
      }
    }
  }
}
