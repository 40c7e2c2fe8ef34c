import { timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import type { ParameterizedContext } from 'koa';
import { bodyParser } from '@koa/bodyparser';
import type { Queue } from 'bullmq';
import type { Config } from '../../config/index.ts';
import type { TelegramStore } from '../../persistence/telegram-store.ts';
import { HttpError } from '../../web/http-error.ts';
import { enqueueUpdates, type TelegramJobData, type TelegramUpdate } from './updates-queue.ts';

const CACHE_MS = 10_000;

/**
 * `POST /telegram/<bot id>`: what Telegram calls in webhook mode. It checks the secret Telegram was given in
 * setWebhook, puts the update on the queue and answers 200 at once; the worker does the rest.
 */
export function telegramWebhookRoutes(deps: { config: Config; store: TelegramStore; queue: Queue<TelegramJobData> }): Router {
  const router = new Router();
  const secrets = new Map<string, { at: number; secret: string | null }>();
  const secretOf = async (botId: string) => {
    const hit = secrets.get(botId);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.secret;
    const bot = await deps.store.byBotId(botId);
    const secret = bot && bot.mode === 'webhook' ? bot.webhookSecret : null;
    if (secrets.size > 1000) secrets.clear();
    secrets.set(botId, { at: Date.now(), secret });
    return secret;
  };
  // The secret is checked before the body is read: a caller without it costs no parsing.
  const verify = async (ctx: ParameterizedContext & { params: Record<string, string> }, next: () => Promise<unknown>) => {
    const secret = await secretOf(ctx.params.botId!);
    if (!secret) throw new HttpError(404, 'not_found', 'No bot with this id receives updates by webhook here.');
    const given = Buffer.from(ctx.get('x-telegram-bot-api-secret-token'));
    const expected = Buffer.from(secret);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new HttpError(403, 'forbidden', 'The X-Telegram-Bot-Api-Secret-Token header is missing or wrong.');
    }
    await next();
  };
  router.post('/telegram/:botId', verify, bodyParser({ enableTypes: ['json'], jsonLimit: '2mb' }), async (ctx) => {
    const botId = ctx.params.botId!;
    const update = ctx.request.body as TelegramUpdate | undefined;
    if (!update || typeof update !== 'object' || !Number.isSafeInteger(update.update_id)) {
      throw new HttpError(400, 'invalid_update', 'The body is not a Telegram update (no update_id).');
    }
    await enqueueUpdates(deps.queue, deps.config, botId, [update]);
    ctx.status = 200;
    ctx.body = { ok: true };
  });
  return router;
}
