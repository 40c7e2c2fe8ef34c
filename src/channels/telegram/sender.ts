import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { DomainError } from '../../core/errors.ts';
import { Telegram, TelegramError } from 'telegraf';
import type { AttachmentStorage, NotificationSender, OutgoingNotification } from '../../core/ports.ts';
import { DeliveryError } from '../../core/ports.ts';
import type { MailStore } from '../../persistence/mail-store.ts';
import type { BotConfig, TelegramStore } from '../../persistence/telegram-store.ts';
import { botLocale, botText, escapeHtml, splitMessage, MAX_MESSAGE } from './texts.ts';
import { statusName } from '../status-names.ts';

export interface TelegramSenderDeps {
  store: TelegramStore;
  /** Which parts of a notification went out already, so that a retry sends only the rest. */
  redis: Redis;
  queuePrefix: string;
  /** For the full text, author and files of the message a notification reports. */
  messages: MailStore;
  storage: AttachmentStorage;
  apiRoot: string;
  logger: Logger;
}

const KINDS = new Set(['ticket_received', 'agent_replied', 'status_changed']);

/**
 * Sends notifications into the reporter's chat, as replies to the bot's last message about the ticket (or
 * the reporter's message that opened it), with the agent's name; files are uploaded (multipart). Telegram's
 * 429 becomes `rate_limited` with its retry_after; a blocked bot or a chat that is gone, `undeliverable`.
 */
export class TelegramSender implements NotificationSender {
  readonly kind = 'telegram' as const;
  private readonly clients = new Map<string, Telegram>();

  constructor(private readonly deps: TelegramSenderDeps) {}

  async send(n: OutgoingNotification, address: string): Promise<{ externalId?: string }> {
    if (!KINDS.has(n.kind)) throw new DeliveryError(`no Telegram text for notifications of kind ${n.kind}`, 'unavailable');
    const messageRef = typeof n.payload.messageId === 'string' ? n.payload.messageId : null;
    const route = await this.deps.store.route(n.organizationId, address, n.ticketNumber, messageRef);
    if (!route) throw new DeliveryError('the organization has no Telegram bot', 'unavailable');
    const telegram = this.client(route.bot);
    const locale = botLocale(n.locale);
    const number = n.ticketNumber ?? 0;
    const ctx = n.kind === 'agent_replied' ? await this.deps.messages.outgoingContext(n.organizationId, n.ticketNumber, messageRef) : null;
    // Telegram's limit counts the text after entities are parsed: split the plain text, then escape each part.
    let parts: string[];
    if (n.kind === 'ticket_received') parts = [escapeHtml(botText('received', locale, { number }))];
    else if (n.kind === 'status_changed') parts = [escapeHtml(botText('status', locale, { number, status: statusName(String(n.payload.to ?? ''), locale) }))];
    else {
      const header = botText('replied', locale, { agent: ctx?.author ?? botText('support', locale), number });
      const body = splitMessage(ctx?.body ?? String(n.payload.text ?? ''), MAX_MESSAGE - header.length - 1);
      parts = body.map((p, i) => (i === 0 ? `<b>${escapeHtml(header)}</b>\n${escapeHtml(p)}` : escapeHtml(p)));
    }
    const chatId = Number(address);
    let replyTo = route.replyTo;
    let firstId: number | undefined;
    // A resolved ticket asks for a rating, 1 to 5, with buttons under the message.
    const rating = n.kind === 'status_changed' && n.payload.to === 'resolved'
      ? { reply_markup: { inline_keyboard: [[1, 2, 3, 4, 5].map((k) => ({ text: '★'.repeat(k), callback_data: `rate:${number}:${k}` }))] } }
      : {};
    if (rating.reply_markup) parts = [`${parts[0]}\n${escapeHtml(botText('rate', locale))}`];
    const reply = () => (replyTo ? { reply_parameters: { message_id: replyTo, allow_sending_without_reply: true } } : {});
    const steps: Array<() => Promise<{ message_id: number }>> = [
      ...parts.map((part, i) => () => telegram.sendMessage(chatId, part, { parse_mode: 'HTML', ...reply(), ...(i === parts.length - 1 ? rating : {}) })),
      ...(ctx?.files ?? []).map((f) => async () => {
        const source = await this.deps.storage.open(f.storageKey);
        // Telegram takes photos up to 10 MB (and not every image type); anything else goes as a document.
        return /^image\/(jpeg|png|webp)$/.test(f.contentType) && f.size <= 5 * 1024 * 1024
          ? telegram.sendPhoto(chatId, { source, filename: f.filename }, reply())
          : telegram.sendDocument(chatId, { source, filename: f.filename }, reply());
      }),
    ];
    // Parts already sent by an earlier try (before a 429 or a lost connection) are not sent again.
    const progress = `${this.deps.queuePrefix}:tg:sent:${n.id}`;
    const done = await this.deps.redis.hgetall(progress);
    try {
      for (const [i, step] of steps.entries()) {
        let sentId = done[String(i)] ? Number(done[String(i)]) : undefined;
        if (sentId === undefined) {
          sentId = (await step()).message_id;
          await this.deps.redis.multi().hset(progress, String(i), String(sentId)).pexpire(progress, 24 * 3600 * 1000).exec();
          await this.remember(route.bot, chatId, sentId, route.ticketId);
        }
        firstId ??= sentId;
        replyTo = sentId;
      }
    } catch (err) {
      throw classify(err);
    }
    await this.deps.redis.del(progress);
    return { externalId: firstId !== undefined ? String(firstId) : undefined };
  }

  private async remember(bot: BotConfig, chatId: number, telegramMessageId: number, ticketId: string | null): Promise<void> {
    if (!ticketId) return;
    await this.deps.store.rememberMessage({ organizationId: bot.organizationId, botRowId: bot.id, chatId, telegramMessageId, ticketId, direction: 'out' });
  }

  private client(bot: BotConfig): Telegram {
    let client = this.clients.get(bot.id);
    if (!client || client.token !== bot.token) {
      client = new Telegram(bot.token, { apiRoot: this.deps.apiRoot });
      this.clients.set(bot.id, client);
    }
    return client;
  }
}

function classify(err: unknown): Error {
  if (err instanceof TelegramError) {
    const retryAfter = err.parameters?.retry_after;
    if (err.code === 429) return new DeliveryError(`Telegram asks to wait ${retryAfter ?? '?'} s: ${err.description}`, 'rate_limited', (retryAfter ?? 1) * 1000);
    if (err.code === 403 || (err.code === 400 && /chat not found|user is deactivated|PEER_ID_INVALID/i.test(err.description))) {
      return new DeliveryError(`Telegram: ${err.description}`, 'undeliverable');
    }
    // Any other 400 is Telegram refusing this message as it is: trying again would be refused again.
    if (err.code === 400) return new DomainError('invalid', `Telegram refused the message: ${err.description}`);
    return new DeliveryError(`Telegram: ${err.code} ${err.description}`, 'transient');
  }
  return err as Error;
}
