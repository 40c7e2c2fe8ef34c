import { fillPlaceholders } from '../../core/text.ts';

/** What the bot says, in the reporter's language (Telegram's language_code; English when unknown). */
export type BotLocale = 'en' | 'ru' | 'de';

export function botLocale(languageCode: string | undefined | null): BotLocale {
  const code = languageCode?.slice(0, 2).toLowerCase();
  return code === 'ru' || code === 'de' ? code : 'en';
}

const TEXTS = {
  greeting: {
    en: 'Hello! Write your request here: text, photos, documents or voice messages. We answer in this chat.\n/new opens a new request, /my lists yours.',
    ru: 'Здравствуйте! Напишите здесь ваше обращение: текст, фото, документы или голосовое сообщение. Ответим в этом чате.\n/new — новое обращение, /my — ваши обращения.',
    de: 'Hallo! Schreiben Sie hier Ihr Anliegen: Text, Fotos, Dokumente oder Sprachnachrichten. Wir antworten in diesem Chat.\n/new öffnet eine neue Anfrage, /my zeigt Ihre Anfragen.',
  },
  received: {
    en: 'Your request is registered as ticket #{number}. We will answer here.',
    ru: 'Ваше обращение зарегистрировано под номером #{number}. Ответим здесь.',
    de: 'Ihre Anfrage wurde als Ticket #{number} erfasst. Wir antworten hier.',
  },
  replied: { en: '{agent} on ticket #{number}:', ru: '{agent} по обращению #{number}:', de: '{agent} zu Ticket #{number}:' },
  status: {
    en: 'Ticket #{number} is now: {status}.',
    ru: 'Статус обращения #{number}: {status}.',
    de: 'Ticket #{number} ist jetzt: {status}.',
  },
  support: { en: 'Support', ru: 'Поддержка', de: 'Support' },
  none: { en: 'You have no requests yet. Just write here to open one.', ru: 'У вас пока нет обращений. Просто напишите сюда, чтобы открыть.', de: 'Sie haben noch keine Anfragen. Schreiben Sie einfach hier, um eine zu öffnen.' },
  mine: { en: 'Your requests:', ru: 'Ваши обращения:', de: 'Ihre Anfragen:' },
  closeUsage: { en: 'Write /close and the ticket number, e.g. /close 1042.', ru: 'Напишите /close и номер обращения, например /close 1042.', de: 'Schreiben Sie /close und die Ticketnummer, z. B. /close 1042.' },
  closed: { en: 'Ticket #{number} is closed. Thank you!', ru: 'Обращение #{number} закрыто. Спасибо!', de: 'Ticket #{number} ist geschlossen. Danke!' },
  notYours: { en: 'You have no ticket #{number}.', ru: 'У вас нет обращения #{number}.', de: 'Sie haben kein Ticket #{number}.' },
  rate: { en: 'How did we do? Rate it from 1 to 5:', ru: 'Оцените, пожалуйста, решение от 1 до 5:', de: 'Wie zufrieden sind Sie? Bewerten Sie von 1 bis 5:' },
  aboutObject: {
    en: 'You are reporting a problem with: {name}. Describe it here: text, photos, a voice message.',
    ru: 'Вы сообщаете о проблеме с объектом: {name}. Опишите её здесь: текст, фото, голосовое сообщение.',
    de: 'Sie melden ein Problem mit: {name}. Beschreiben Sie es hier: Text, Fotos, Sprachnachricht.',
  },
  linked: { en: 'Done: your requests and answers come here now.', ru: 'Готово: ваши обращения и ответы теперь приходят сюда.', de: 'Erledigt: Ihre Anfragen und Antworten kommen jetzt hierher.' },
  linkFailed: { en: 'This link is not valid any more. Ask for a new one, or just write here.', ru: 'Эта ссылка больше не действует. Запросите новую или просто напишите сюда.', de: 'Dieser Link gilt nicht mehr. Fordern Sie einen neuen an oder schreiben Sie einfach hier.' },
  refused: {
    en: 'This message could not be added to a request. Please write it again, or use /new for a new request.',
    ru: 'Не удалось добавить это сообщение к обращению. Напишите его ещё раз или используйте /new для нового обращения.',
    de: 'Diese Nachricht konnte keiner Anfrage zugeordnet werden. Bitte schreiben Sie sie erneut oder nutzen Sie /new.',
  },
  thanks: { en: 'Thank you for your rating!', ru: 'Спасибо за оценку!', de: 'Danke für Ihre Bewertung!' },
} as const;

export function botText(key: keyof typeof TEXTS, locale: BotLocale, vars: Record<string, string | number> = {}): string {
  return fillPlaceholders(TEXTS[key][locale], vars);
}

/** Telegram's limit for one message's text. */
export const MAX_MESSAGE = 4096;

/** Splits text into messages of at most `max` characters, at paragraph, line or word ends where it can. */
export function splitMessage(text: string, max = MAX_MESSAGE): string[] {
  const parts: string[] = [];
  let rest = text;
  while (rest.length > max) {
    const window = rest.slice(0, max);
    let cut = Math.max(window.lastIndexOf('\n\n'), window.lastIndexOf('\n'));
    if (cut < max / 2) cut = window.lastIndexOf(' ');
    if (cut < max / 2) cut = max;
    // Never split a surrogate pair (an emoji) in two.
    if (/[\uD800-\uDBFF]/.test(rest[cut - 1] ?? '')) cut -= 1;
    parts.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).replace(/^\s+/, '');
  }
  if (rest.length > 0 || parts.length === 0) parts.push(rest);
  return parts;
}

/** Text for parse_mode HTML: only <, > and & need escaping there. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
