import type { Locale } from '../core/vocabulary.ts';

/** A ticket's status as the reporter is told it in a message (mail, chat), in their language. */
const NAMES: Record<Locale, Record<string, string>> = {
  en: { new: 'new', open: 'open', in_progress: 'in progress', waiting: 'waiting for your answer', resolved: 'resolved', closed: 'closed' },
  ru: { new: 'новое', open: 'открыто', in_progress: 'в работе', waiting: 'ждёт вашего ответа', resolved: 'решено', closed: 'закрыто' },
  de: { new: 'neu', open: 'offen', in_progress: 'in Bearbeitung', waiting: 'wartet auf Ihre Antwort', resolved: 'gelöst', closed: 'geschlossen' },
};

export function statusName(status: string, locale: Locale): string {
  return NAMES[locale][status] ?? status;
}
