/*
 * Updates shaped as the Bot API documents them (private chats), for driving the bot in tests.
 */
let nextUpdate = 5000;
let nextMessage = 1;

export interface Person { id: number; first_name: string; last_name?: string; username?: string; language_code?: string }

export function person(id: number, first_name: string, language_code = 'en'): Person {
  return { id, first_name, language_code, username: `${first_name.toLowerCase()}${id}` };
}

function base(from: Person, extra: Record<string, unknown>) {
  return {
    message_id: nextMessage++,
    date: Math.floor(Date.now() / 1000),
    from: { ...from, is_bot: false },
    chat: { id: from.id, type: 'private', first_name: from.first_name, username: from.username },
    ...extra,
  };
}

export function textUpdate(from: Person, text: string, extra: Record<string, unknown> = {}) {
  const entities = text.startsWith('/') ? [{ type: 'bot_command', offset: 0, length: text.split(/\s/)[0]!.length }] : undefined;
  return { update_id: nextUpdate++, message: base(from, { text, ...(entities ? { entities } : {}), ...extra }) };
}

export function photoUpdate(from: Person, fileId: string, extra: Record<string, unknown> = {}) {
  return {
    update_id: nextUpdate++,
    message: base(from, {
      photo: [
        { file_id: `${fileId}-small`, file_unique_id: 's', width: 90, height: 90, file_size: 1000 },
        { file_id: fileId, file_unique_id: 'b', width: 1280, height: 960, file_size: 2000 },
      ],
      ...extra,
    }),
  };
}

export function documentUpdate(from: Person, fileId: string, fileName: string, extra: Record<string, unknown> = {}) {
  return { update_id: nextUpdate++, message: base(from, { document: { file_id: fileId, file_unique_id: 'd', file_name: fileName, mime_type: 'application/pdf', file_size: 100 }, ...extra }) };
}

export function voiceUpdate(from: Person, fileId: string) {
  return { update_id: nextUpdate++, message: base(from, { voice: { file_id: fileId, file_unique_id: 'v', duration: 3, mime_type: 'audio/ogg', file_size: 100 } }) };
}

export function callbackUpdate(from: Person, data: string, message: Record<string, unknown>) {
  return { update_id: nextUpdate++, callback_query: { id: String(nextUpdate), from: { ...from, is_bot: false }, chat_instance: '1', data, message } };
}

export function replyTo(messageId: number) {
  return { reply_to_message: { message_id: messageId, date: Math.floor(Date.now() / 1000), chat: { id: 0, type: 'private' }, from: { id: 1, is_bot: true, first_name: 'bot' } } };
}
