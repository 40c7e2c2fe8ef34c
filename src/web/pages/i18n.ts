import type { Context } from 'koa';

export type PageLocale = 'en' | 'ru' | 'de';
export const PAGE_LOCALES: readonly PageLocale[] = ['en', 'ru', 'de'];

/** The page's language: ?lang= (remembered in a cookie), else the cookie, else the browser's Accept-Language. */
export function pageLocale(ctx: Context): PageLocale {
  const asked = String(ctx.query.lang ?? '');
  if ((PAGE_LOCALES as readonly string[]).includes(asked)) {
    ctx.cookies.set('lang', asked, { httpOnly: true, sameSite: 'lax', maxAge: 365 * 24 * 3600 * 1000, overwrite: true });
    return asked as PageLocale;
  }
  const saved = ctx.cookies.get('lang');
  if (saved && (PAGE_LOCALES as readonly string[]).includes(saved)) return saved as PageLocale;
  const accepted = ctx.acceptsLanguages(...PAGE_LOCALES);
  return typeof accepted === 'string' && (PAGE_LOCALES as readonly string[]).includes(accepted) ? (accepted as PageLocale) : 'en';
}

const T = {
  openRequests: { en: 'Open requests', ru: 'Открытые обращения', de: 'Offene Anfragen' },
  noOpen: { en: 'No open requests. Everything works?', ru: 'Открытых обращений нет. Всё работает?', de: 'Keine offenen Anfragen. Alles in Ordnung?' },
  report: { en: 'Report a problem', ru: 'Сообщить о проблеме', de: 'Problem melden' },
  whatsWrong: { en: 'What is wrong?', ru: 'Что случилось?', de: 'Was ist los?' },
  photos: { en: 'Photos (optional)', ru: 'Фото (необязательно)', de: 'Fotos (optional)' },
  hearBack: { en: 'How should we tell you about it?', ru: 'Как сообщить вам о решении?', de: 'Wie sollen wir Sie informieren?' },
  byEmail: { en: 'By email', ru: 'По электронной почте', de: 'Per E-Mail' },
  byTelegram: { en: 'In Telegram', ru: 'В Telegram', de: 'In Telegram' },
  noNews: { en: 'No need to tell me', ru: 'Не нужно сообщать', de: 'Keine Benachrichtigung' },
  email: { en: 'Your email', ru: 'Ваш email', de: 'Ihre E-Mail' },
  send: { en: 'Send', ru: 'Отправить', de: 'Senden' },
  thanks: { en: 'Thank you! Your request is registered as #{number}.', ru: 'Спасибо! Ваше обращение зарегистрировано под номером #{number}.', de: 'Danke! Ihre Anfrage ist als #{number} erfasst.' },
  thanksLater: { en: 'Thank you! Your request was received and will be registered in a moment.', ru: 'Спасибо! Обращение получено и сейчас будет зарегистрировано.', de: 'Danke! Ihre Anfrage ist eingegangen und wird gleich erfasst.' },
  mailSent: { en: 'We sent a confirmation with a link to follow it to {email}.', ru: 'Мы отправили подтверждение со ссылкой на {email}.', de: 'Wir haben eine Bestätigung mit Link an {email} geschickt.' },
  telegramGo: { en: 'Open the bot in Telegram and describe the problem there:', ru: 'Откройте бота в Telegram и опишите проблему там:', de: 'Öffnen Sie den Bot in Telegram und beschreiben Sie das Problem dort:' },
  back: { en: 'Back to the object', ru: 'Назад к объекту', de: 'Zurück zum Objekt' },
  notFound: { en: 'This code does not belong to any object. Check the sticker, or ask the staff.', ru: 'Этот код не относится ни к одному объекту. Проверьте наклейку или обратитесь к персоналу.', de: 'Dieser Code gehört zu keinem Objekt. Prüfen Sie den Aufkleber oder fragen Sie das Personal.' },
  needText: { en: 'Please describe the problem, or add a photo.', ru: 'Опишите проблему или добавьте фото.', de: 'Bitte beschreiben Sie das Problem oder fügen Sie ein Foto hinzu.' },
  needEmail: { en: 'Please enter a valid email address, or choose another way.', ru: 'Введите правильный email или выберите другой способ.', de: 'Bitte geben Sie eine gültige E-Mail-Adresse ein oder wählen Sie einen anderen Weg.' },
  onlyImages: { en: 'Photos must be images (JPEG, PNG, WebP, HEIC).', ru: 'Фото должны быть изображениями (JPEG, PNG, WebP, HEIC).', de: 'Fotos müssen Bilder sein (JPEG, PNG, WebP, HEIC).' },
  expired: { en: 'The form expired. Please send it again.', ru: 'Форма устарела. Отправьте её ещё раз.', de: 'Das Formular ist abgelaufen. Bitte senden Sie es erneut.' },
  tooMany: { en: 'Too many requests from here. Please try again in a few minutes.', ru: 'Слишком много обращений отсюда. Попробуйте через несколько минут.', de: 'Zu viele Anfragen von hier. Bitte versuchen Sie es in ein paar Minuten erneut.' },
  status: {
    en: { new: 'new', open: 'open', in_progress: 'in progress', waiting: 'waiting', resolved: 'resolved', closed: 'closed' },
    ru: { new: 'новое', open: 'открыто', in_progress: 'в работе', waiting: 'ожидает', resolved: 'решено', closed: 'закрыто' },
    de: { new: 'neu', open: 'offen', in_progress: 'in Bearbeitung', waiting: 'wartet', resolved: 'gelöst', closed: 'geschlossen' },
  },
} as const;

type Key = Exclude<keyof typeof T, 'status'>;

export function t(locale: PageLocale, key: Key, vars: Record<string, string | number> = {}): string {
  return T[key][locale].replace(/\{(\w+)\}/g, (whole, name: string) => (vars[name] !== undefined ? String(vars[name]) : whole));
}

export function statusLabel(locale: PageLocale, status: string): string {
  return (T.status[locale] as Record<string, string>)[status] ?? status;
}
