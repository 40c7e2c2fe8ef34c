import type { Queue } from 'bullmq';
import type { Config } from '../../config/index.ts';
import { jobOptions } from '../../workers/retry-policy.ts';

/**
 * Updates from Telegram wait here between the webhook (or the poller) and the worker that turns them into
 * intake events: the webhook answers at once, and nothing Telegram handed over is lost if a process dies.
 */
export const TELEGRAM_QUEUE = 'telegram-updates';

export type TelegramUpdate = Record<string, unknown> & { update_id: number };

/** An update to handle, or the album whose parts have been gathered. */
export type TelegramJobData =
  | { botId: string; update: TelegramUpdate }
  | { botId: string; album: { chatId: number; groupId: string } };

/** The same update (same bot, same update_id) is one job. */
export function updateJobId(botId: string, updateId: number): string {
  return `tg-${botId}-${updateId}`;
}

export async function enqueueUpdates(queue: Queue<TelegramJobData>, config: Config, botId: string, updates: TelegramUpdate[]): Promise<void> {
  if (updates.length === 0) return;
  await queue.addBulk(updates.map((update) => ({
    name: 'update',
    data: { botId, update },
    opts: { ...jobOptions(config), jobId: updateJobId(botId, update.update_id) },
  })));
}
