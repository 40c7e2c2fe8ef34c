import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { Markup, Telegraf, type Context } from 'telegraf';
import type { Update } from 'telegraf/types';
import type { BotConfig } from '../../persistence/telegram-store.ts';
import { jobOptions } from '../../workers/retry-policy.ts';
import { isReporterMessage, submitMessage, type ChatMessage, type Destination, type InboundDeps } from './inbound.ts';
import { botLocale, botText } from './texts.ts';
import { statusName } from '../status-names.ts';
import type { ReporterActions } from '../../persistence/reporter-actions.ts';
import type { ReporterLinks } from '../../persistence/reporter-links.ts';
import { DomainError } from '../../core/errors.ts';
import type { TelegramJobData } from './updates-queue.ts';

export interface BotDeps extends InboundDeps {
  actions: ReporterActions;
  links: ReporterLinks;
  apiRoot: string;
  redis: Redis;
  queue: Queue<TelegramJobData>;
  queuePrefix: string;
  joinWindowMs: number;
}

/** How long the parts of an album are gathered before they become one message. */
const ALBUM_WAIT_MS = 1500;
const FORCE_NEW_MS = 10 * 60_000;

/**
 * One bot's update handling, with telegraf's routing (commands, messages, button presses). The worker feeds
 * it updates from the queue; replies to the reporter that are not notifications (greeting, the question which
 * ticket a message is about) are sent from here.
 */
export function createBot(deps: BotDeps, config: BotConfig): Telegraf {
  const bot = new Telegraf(config.token, { telegram: { apiRoot: deps.apiRoot } });
  bot.botInfo = {
    id: Number(config.botId), is_bot: true, first_name: config.username, username: config.username,
    can_join_groups: false, can_read_all_group_messages: false, supports_inline_queries: false,
    can_connect_to_business: false, has_main_web_app: false,
  } as never;
  const key = (what: string, chatId: number, extra = '') => chatKey(deps, config, what, chatId, extra);
  // Only private chats: in a group, /my would show a reporter's tickets to everyone, and a kick from a group
  // is not the person blocking the bot.
  bot.use(async (ctx, next) => {
    if (ctx.chat && ctx.chat.type !== 'private') return;
    await next();
  });

  const destination = (m: ChatMessage, allowAsk: boolean) => destinationOf(deps, config, m, allowAsk);

  const take = async (ctx: Context, m: ChatMessage) => {
    const dest = await destination(m, true);
    if (dest === 'ask') {
      const locale = botLocale(m.from?.language_code);
      const open = await deps.store.openTickets(config.organizationId, String(m.from!.id));
      const buttons = open.slice(0, 8).map((t) => [Markup.button.callback(cut(`#${t.number} ${t.subject}`, 60), `pick:${t.number}`)]);
      buttons.push([Markup.button.callback(locale === 'ru' ? 'Новое обращение' : locale === 'de' ? 'Neue Anfrage' : 'New request', 'pick:new')]);
      await ctx.telegram.sendMessage(m.chat.id, locale === 'ru' ? 'К какому обращению это относится?' : locale === 'de' ? 'Zu welcher Anfrage gehört das?' : 'Which request is this about?', {
        reply_parameters: { message_id: m.message_id, allow_sending_without_reply: true },
        ...Markup.inlineKeyboard(buttons),
      });
      return;
    }
    await submitMessage(deps, config, ctx.telegram, [m], dest);
  };

  bot.start(async (ctx) => {
    const locale = botLocale(ctx.from?.language_code);
    const payload = ctx.payload ?? '';
    if (payload.startsWith('link_')) {
      // A one-time code from a mail or the portal: this chat becomes that reporter's.
      try {
        await deps.links.redeem(config.organizationId, payload.slice('link_'.length), { kind: 'telegram', address: String(ctx.from.id) });
        await ctx.reply(botText('linked', locale));
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
        await ctx.reply(botText('linkFailed', locale));
      }
      return;
    }
    if (payload.startsWith('obj_')) {
      // A deep link from an object's QR passport: the next message opens a request about that object.
      const object = await deps.store.objectByToken(config.organizationId, payload.slice('obj_'.length));
      if (object) {
        await deps.redis.set(key('object', ctx.chat.id), object.id, 'PX', FORCE_NEW_MS * 3);
        await ctx.reply(botText('aboutObject', locale, { name: object.name }));
        return;
      }
    }
    await ctx.reply(botText('greeting', locale));
  });
  bot.command('new', async (ctx) => {
    const m = ctx.message as unknown as ChatMessage;
    const text = (m.text ?? '').replace(/^\/new(@\w+)?\s*/, '');
    if (text) {
      await submitMessage(deps, config, ctx.telegram, [{ ...m, text }], { rule: 'new' });
      return;
    }
    await deps.redis.set(key('new', m.chat.id), '1', 'PX', FORCE_NEW_MS);
    const locale = botLocale(ctx.from?.language_code);
    await ctx.reply(locale === 'ru' ? 'Опишите новое обращение.' : locale === 'de' ? 'Beschreiben Sie die neue Anfrage.' : 'Describe the new request.');
  });
  bot.command('my', async (ctx) => {
    const locale = botLocale(ctx.from?.language_code);
    const tickets = await deps.store.ticketsOf(config.organizationId, String(ctx.from.id));
    if (tickets.length === 0) {
      await ctx.reply(botText('none', locale));
      return;
    }
    const lines = tickets.map((t) => `#${t.number} · ${statusName(t.status, locale)} · ${t.subject}`);
    await ctx.reply(`${botText('mine', locale)}\n${lines.join('\n')}`,
      Markup.inlineKeyboard(tickets.map((t) => [Markup.button.callback(cut(`#${t.number} ${t.subject}`, 60), `show:${t.number}`)])));
  });
  bot.command('close', async (ctx) => {
    const locale = botLocale(ctx.from?.language_code);
    const number = Number(/^\/close(?:@\w+)?\s+#?(\d{1,9})\s*$/.exec(ctx.message.text)?.[1]);
    if (!number) {
      await ctx.reply(botText('closeUsage', locale));
      return;
    }
    try {
      await deps.actions.close(config.organizationId, { kind: 'telegram', address: String(ctx.from.id) }, number, 'telegram');
      await ctx.reply(botText('closed', locale, { number }));
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      await ctx.reply(err.kind === 'not_found' ? botText('notYours', locale, { number }) : err.message);
    }
  });
  bot.action(/^show:(\d+)$/, async (ctx) => {
    await ctx.answerCbQuery();
    const locale = botLocale(ctx.from?.language_code);
    const number = Number((ctx.match as RegExpExecArray)[1]);
    const t = (await deps.store.ticketsOf(config.organizationId, String(ctx.from!.id), 50)).find((x) => x.number === number);
    if (!t) return;
    const sent = await ctx.reply(`#${t.number} · ${statusName(t.status, locale)}\n${t.subject}${t.last ? `\n\n${cut(t.last, 3000)}` : ''}`);
    const ticket = await deps.store.ticketIdOf(config.organizationId, number);
    if (ticket) await deps.store.rememberMessage({ organizationId: config.organizationId, botRowId: config.id, chatId: sent.chat.id, telegramMessageId: sent.message_id, ticketId: ticket, direction: 'out' });
  });
  bot.action(/^rate:(\d+):([1-5])$/, async (ctx) => {
    const locale = botLocale(ctx.from?.language_code);
    const [, number, score] = ctx.match as RegExpExecArray;
    try {
      await deps.actions.rate(config.organizationId, { kind: 'telegram', address: String(ctx.from!.id) }, Number(number), Number(score), 'telegram');
      await ctx.answerCbQuery(botText('thanks', locale));
      await ctx.editMessageReplyMarkup(undefined).catch(() => undefined);
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      await ctx.answerCbQuery(err.message);
    }
  });
  bot.on('edited_message', async (ctx) => {
    const m = ctx.editedMessage as unknown as ChatMessage;
    if (!m.from || m.from.is_bot) return;
    const ours = await deps.store.messageOf(config.organizationId, config.id, m.chat.id, m.message_id);
    // An edit never opens a ticket: a message we never took stays untaken.
    if (!ours) return;
    await deps.actions.editMessage(config.organizationId, ours, m.text ?? m.caption ?? '', 'telegram');
  });
  bot.on('my_chat_member', async (ctx) => {
    const status = ctx.myChatMember.new_chat_member.status;
    const user = String(ctx.myChatMember.from.id);
    if (status === 'kicked') await deps.store.setDeliverable(config.organizationId, user, false, 'blocked the bot in Telegram');
    else if (status === 'member') await deps.store.setDeliverable(config.organizationId, user, true, null);
  });
  bot.on('message', async (ctx) => {
    const m = ctx.message as unknown as ChatMessage;
    if (!isReporterMessage(m)) return;
    if (m.media_group_id) {
      // A part that comes after its album was filed joins the same ticket.
      const filed = await deps.redis.get(key('album-filed', m.chat.id, m.media_group_id));
      if (filed) {
        await submitMessage(deps, config, ctx.telegram, [{ ...m, media_group_id: undefined }], { ticketNumber: Number(filed), rule: 'reply' });
        return;
      }
      // Album parts arrive as separate updates: gather them, and turn them into one message a moment later.
      const parts = key('album', m.chat.id, m.media_group_id);
      await deps.redis.multi().rpush(parts, JSON.stringify(m)).pexpire(parts, 10 * 60_000).exec();
      await deps.queue.add('album', { botId: config.botId, album: { chatId: m.chat.id, groupId: m.media_group_id } }, {
        ...jobOptions(deps.config), jobId: `tg-album-${config.botId}-${m.chat.id}-${m.media_group_id}`, delay: ALBUM_WAIT_MS,
      });
      return;
    }
    await take(ctx, m);
  });
  bot.action(/^pick:(\d+|new)$/, async (ctx) => {
    await ctx.answerCbQuery();
    const cb = ctx.callbackQuery as unknown as { from: ChatMessage['from']; message?: { chat: ChatMessage['chat']; reply_to_message?: ChatMessage } };
    const original = cb.message?.reply_to_message;
    if (!original) return;
    const choice = (ctx.match as RegExpExecArray)[1]!;
    // The question is answered: its buttons go, so that a second press cannot file the message twice.
    await ctx.editMessageReplyMarkup(undefined).catch(() => undefined);
    await submitMessage(deps, config, ctx.telegram, [{ ...original, from: original.from ?? cb.from }],
      choice === 'new' ? { rule: 'chosen' } : { ticketNumber: Number(choice), rule: 'chosen' });
  });
  bot.catch((err) => {
    throw err;
  });
  return bot;
}

/** Turns the gathered parts of an album into one message. */
export async function flushAlbum(deps: BotDeps, bot: Telegraf, config: BotConfig, album: { chatId: number; groupId: string }): Promise<void> {
  const key = chatKey(deps, config, 'album', album.chatId, album.groupId);
  const parts = (await deps.redis.lrange(key, 0, -1)).map((p) => JSON.parse(p) as ChatMessage);
  if (parts.length === 0) return;
  const unique = [...new Map(parts.map((p) => [p.message_id, p])).values()].sort((a, b) => a.message_id - b.message_id);
  const first = unique[0]!;
  const probe = { ...first, reply_to_message: unique.find((p) => p.reply_to_message)?.reply_to_message };
  const dest = await destinationOf(deps, config, probe, false);
  const filed = await submitMessage(deps, config, bot.telegram, unique, dest as Destination);
  if (filed) {
    await deps.redis.multi()
      .set(chatKey(deps, config, 'album-filed', album.chatId, album.groupId), String(filed.ticketNumber), 'PX', 10 * 60_000)
      .del(key)
      .exec();
  }
}

function chatKey(deps: { queuePrefix: string }, config: BotConfig, what: string, chatId: number, extra = ''): string {
  return `${deps.queuePrefix}:tg:${what}:${config.botId}:${chatId}${extra ? `:${extra}` : ''}`;
}

/**
 * Where a message goes: a reply names its ticket; a QR passport or /new just before, a new one; otherwise the
 * ticket opened moments ago, the only open one, a question (several open), or a new one.
 */
async function destinationOf(deps: BotDeps, config: BotConfig, m: ChatMessage, allowAsk: boolean): Promise<Destination | 'ask'> {
  if (m.reply_to_message) {
    const n = await deps.store.ticketOfMessage(config.organizationId, config.id, m.chat.id, m.reply_to_message.message_id);
    if (n !== null) return { ticketNumber: n, rule: 'reply' };
  }
  const objectId = await deps.redis.getdel(chatKey(deps, config, 'object', m.chat.id));
  if (objectId) return { rule: 'object', objectId };
  if (await deps.redis.del(chatKey(deps, config, 'new', m.chat.id))) return { rule: 'new' };
  const open = await deps.store.openTickets(config.organizationId, String(m.from!.id));
  if (open.length === 0) return { rule: 'new' };
  if (Date.now() - open[0]!.createdAt.getTime() <= deps.joinWindowMs) return { ticketNumber: open[0]!.number, rule: 'recent-ticket' };
  if (open.length === 1) return { ticketNumber: open[0]!.number, rule: 'only-open-ticket' };
  return allowAsk ? 'ask' : { rule: 'new' };
}

/** At most `max` characters, never half an emoji. */
function cut(text: string, max: number): string {
  return Array.from(text).slice(0, max).join('');
}

export type { Update };
