import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Telegram } from 'telegraf';
import type { Config } from '../../config/index.ts';
import type { IntakeEventInput, StoredFile } from '../../core/intake-event.ts';
import type { AttachmentStorage } from '../../core/ports.ts';
import type { BotConfig, TelegramStore } from '../../persistence/telegram-store.ts';
import type { SubmitResult } from '../../workers/intake-producer.ts';
import { botLocale, botText } from './texts.ts';
import { cutText } from '../../core/text.ts';

/** A chat message as the intake needs it; several (an album) may make one. */
export interface ChatMessage {
  message_id: number;
  date: number;
  chat: { id: number; type: string };
  from?: { id: number; is_bot: boolean; first_name?: string; last_name?: string; username?: string; language_code?: string };
  text?: string;
  caption?: string;
  media_group_id?: string;
  reply_to_message?: { message_id: number; from?: { is_bot: boolean } };
  photo?: Array<{ file_id: string; file_size?: number; width: number; height: number }>;
  document?: { file_id: string; file_name?: string; mime_type?: string; file_size?: number };
  voice?: { file_id: string; mime_type?: string; file_size?: number; duration?: number };
  audio?: { file_id: string; file_name?: string; mime_type?: string; file_size?: number };
  video?: { file_id: string; file_name?: string; mime_type?: string; file_size?: number };
  video_note?: { file_id: string; file_size?: number };
}

export interface InboundDeps {
  config: Config;
  store: TelegramStore;
  storage: AttachmentStorage;
  logger: Logger;
  submit: (event: IntakeEventInput) => Promise<SubmitResult>;
}

/** Telegram lets bots download files up to 20 MB. */
const BOT_DOWNLOAD_LIMIT = 20 * 1024 * 1024;

/** True for messages a person wrote in a private chat with the bot: no bots, no service messages. */
export function isReporterMessage(m: ChatMessage): boolean {
  if (!m.from || m.from.is_bot || m.chat.type !== 'private') return false;
  return Boolean(m.text || m.caption || m.photo || m.document || m.voice || m.audio || m.video || m.video_note);
}

export type Destination = { ticketNumber?: number; objectId?: string; rule: 'reply' | 'only-open-ticket' | 'recent-ticket' | 'chosen' | 'new' | 'object' };

/**
 * Hands one message (or an album's messages) to intake as one event and waits for the commit, then
 * remembers which ticket the chat message went to. The idempotency key is the chat message itself, so a
 * repeated update, or a choice made twice, is one message.
 */
export async function submitMessage(deps: InboundDeps, bot: BotConfig, telegram: Telegram, messages: ChatMessage[], dest: Destination): Promise<{ ticketNumber: number; ticketId: string; openedTicket: boolean } | null> {
  const first = messages[0]!;
  const from = first.from!;
  const { files, notes } = await downloadFiles(deps, telegram, messages);
  const text = [messages.map((m) => m.text ?? m.caption ?? '').filter(Boolean).join('\n\n'), ...notes].filter(Boolean).join('\n\n');
  const event: IntakeEventInput = {
    organizationId: bot.organizationId,
    channel: 'telegram',
    externalId: `${bot.botId}:${first.chat.id}:${first.media_group_id ? `album:${first.media_group_id}` : first.message_id}`,
    sender: {
      kind: 'telegram',
      address: String(from.id),
      name: cutText([from.first_name, from.last_name].filter(Boolean).join(' '), 200) || from.username || undefined,
      locale: botLocale(from.language_code),
    },
    ticketNumber: dest.ticketNumber,
    text,
    fields: dest.objectId ? { objectId: dest.objectId } : {},
    attachments: files,
    metadata: {
      telegram: {
        bot: bot.username, chatId: first.chat.id, messageIds: messages.map((m) => m.message_id), rule: dest.rule,
        ...(from.username ? { username: from.username } : {}),
      },
    },
    receivedAt: new Date(first.date * 1000).toISOString(),
  };
  const result = await deps.submit(event);
  if (result.state === 'pending') throw new Error(`message ${event.externalId} is queued but not committed yet; trying again`);
  if (result.state === 'failed') {
    deps.logger.warn({ bot: bot.username, externalId: event.externalId, reason: result.reason }, 'intake refused a Telegram message');
    // The person should know their message went nowhere, rather than wait for an answer.
    await telegram.sendMessage(first.chat.id, botText('refused', botLocale(from.language_code)), {
      reply_parameters: { message_id: first.message_id, allow_sending_without_reply: true },
    }).catch(() => undefined);
    return null;
  }
  const { outcome } = result;
  for (const m of messages) {
    await deps.store.rememberMessage({
      organizationId: bot.organizationId, botRowId: bot.id, chatId: m.chat.id, telegramMessageId: m.message_id,
      ticketId: outcome.ticketId, messageId: outcome.messageId, direction: 'in',
    });
  }
  return { ticketNumber: outcome.ticketNumber, ticketId: outcome.ticketId, openedTicket: outcome.openedTicket };
}

async function downloadFiles(deps: InboundDeps, telegram: Telegram, messages: ChatMessage[]): Promise<{ files: StoredFile[]; notes: string[] }> {
  const files: StoredFile[] = [];
  const notes: string[] = [];
  const limit = Math.min(deps.config.attachmentMaxBytes, BOT_DOWNLOAD_LIMIT);
  for (const m of messages) {
    for (const f of filesOf(m)) {
      if ((f.size ?? 0) > limit) {
        notes.push(`[The file "${f.name}" (${(f.size! / 1024 / 1024).toFixed(1)} MB) was left out: it is larger than ${(limit / 1024 / 1024).toFixed(0)} MB.]`);
        continue;
      }
      const link = await telegram.getFileLink(f.fileId);
      // A download that stalls gives the update back for a retry instead of holding the chat.
      const res = await fetch(link, { signal: AbortSignal.timeout(120_000) });
      if (!res.ok || !res.body) throw new Error(`downloading ${f.name} from Telegram failed: HTTP ${res.status}`);
      const name = f.nameFromPath ? (link.pathname.split('/').pop() ?? f.name) : f.name;
      files.push(await deps.storage.put(Readable.fromWeb(res.body as never), { filename: cutText(name, 255), declaredType: f.type, maxBytes: limit }));
    }
  }
  return { files, notes };
}

function filesOf(m: ChatMessage): Array<{ fileId: string; name: string; type?: string; size?: number; nameFromPath?: boolean }> {
  const out: Array<{ fileId: string; name: string; type?: string; size?: number; nameFromPath?: boolean }> = [];
  if (m.photo?.length) {
    // Telegram sends every size of a photo; the last is the largest.
    const p = m.photo[m.photo.length - 1]!;
    out.push({ fileId: p.file_id, name: `photo-${m.message_id}.jpg`, type: 'image/jpeg', size: p.file_size });
  }
  if (m.document) out.push({ fileId: m.document.file_id, name: m.document.file_name ?? `document-${m.message_id}`, type: m.document.mime_type, size: m.document.file_size });
  if (m.voice) out.push({ fileId: m.voice.file_id, name: `voice-${m.message_id}.ogg`, type: m.voice.mime_type ?? 'audio/ogg', size: m.voice.file_size });
  if (m.audio) out.push({ fileId: m.audio.file_id, name: m.audio.file_name ?? `audio-${m.message_id}.mp3`, type: m.audio.mime_type, size: m.audio.file_size });
  if (m.video) out.push({ fileId: m.video.file_id, name: m.video.file_name ?? `video-${m.message_id}.mp4`, type: m.video.mime_type, size: m.video.file_size });
  if (m.video_note) out.push({ fileId: m.video_note.file_id, name: `video-note-${m.message_id}.mp4`, type: 'video/mp4', size: m.video_note.file_size });
  return out;
}
