import type { Context } from 'koa';
import { fillPlaceholders } from '../../core/text.ts';

export type PageLocale = 'en' | 'ru' | 'de';
export const PAGE_LOCALES: readonly PageLocale[] = ['en', 'ru', 'de'];

/** The page's language: ?lang= (remembered in a cookie), else the cookie, else the browser's Accept-Language. */
export function pageLocale(ctx: Context, opts: { remember?: boolean } = {}): PageLocale {
  const asked = String(ctx.query.lang ?? '');
  if ((PAGE_LOCALES as readonly string[]).includes(asked)) {
    if (opts.remember !== false) ctx.cookies.set('lang', asked, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, maxAge: 365 * 24 * 3600 * 1000, overwrite: true });
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
  noForm: { en: 'This form does not exist (any more).', ru: 'Этой формы нет (больше нет).', de: 'Dieses Formular gibt es nicht (mehr).' },
  tooBig: { en: 'A file is too large, or there are too many. Please send fewer or smaller files.', ru: 'Файл слишком большой или файлов слишком много. Отправьте меньше или меньшие файлы.', de: 'Eine Datei ist zu groß oder es sind zu viele. Bitte weniger oder kleinere Dateien senden.' },
  continueSignIn: { en: 'Continue to your requests', ru: 'Перейти к обращениям', de: 'Weiter zu Ihren Anfragen' },
  notFound: { en: 'This code does not belong to any object. Check the sticker, or ask the staff.', ru: 'Этот код не относится ни к одному объекту. Проверьте наклейку или обратитесь к персоналу.', de: 'Dieser Code gehört zu keinem Objekt. Prüfen Sie den Aufkleber oder fragen Sie das Personal.' },
  needText: { en: 'Please describe the problem, or add a photo.', ru: 'Опишите проблему или добавьте фото.', de: 'Bitte beschreiben Sie das Problem oder fügen Sie ein Foto hinzu.' },
  needEmail: { en: 'Please enter a valid email address, or choose another way.', ru: 'Введите правильный email или выберите другой способ.', de: 'Bitte geben Sie eine gültige E-Mail-Adresse ein oder wählen Sie einen anderen Weg.' },
  onlyImages: { en: 'Photos must be images (JPEG, PNG, WebP, HEIC).', ru: 'Фото должны быть изображениями (JPEG, PNG, WebP, HEIC).', de: 'Fotos müssen Bilder sein (JPEG, PNG, WebP, HEIC).' },
  expired: { en: 'The form expired. Please send it again.', ru: 'Форма устарела. Отправьте её ещё раз.', de: 'Das Formular ist abgelaufen. Bitte senden Sie es erneut.' },
  tooMany: { en: 'Too many requests from here. Please try again in a few minutes.', ru: 'Слишком много обращений отсюда. Попробуйте через несколько минут.', de: 'Zu viele Anfragen von hier. Bitte versuchen Sie es in ein paar Minuten erneut.' },
  yourName: { en: 'Your name', ru: 'Ваше имя', de: 'Ihr Name' },
  phone: { en: 'Phone', ru: 'Телефон', de: 'Telefon' },
  object: { en: 'Where / what', ru: 'Где / что', de: 'Wo / was' },
  kind: { en: 'Kind of work', ru: 'Вид работ', de: 'Art der Arbeit' },
  choose: { en: '— choose —', ru: '— выберите —', de: '— auswählen —' },
  needContact: { en: 'Please give an email or a phone number so that we can answer.', ru: 'Укажите email или телефон, чтобы мы могли ответить.', de: 'Bitte geben Sie eine E-Mail oder Telefonnummer an, damit wir antworten können.' },
  sameProblem: { en: 'I have the same problem', ru: 'У меня такая же проблема', de: 'Ich habe dasselbe Problem' },
  followHelp: { en: 'We will not open a new request: you follow #{number} and hear when it moves.', ru: 'Новое обращение не нужно: вы будете следить за #{number} и узнаете о решении.', de: 'Keine neue Anfrage nötig: Sie folgen #{number} und erfahren, wenn es weitergeht.' },
  following: { en: 'Thank you! You follow request #{number}.', ru: 'Спасибо! Вы следите за обращением #{number}.', de: 'Danke! Sie folgen der Anfrage #{number}.' },
  notYours: { en: 'You have no request #{number}.', ru: 'У вас нет обращения #{number}.', de: 'Sie haben keine Anfrage #{number}.' },
  myRequests: { en: 'My requests', ru: 'Мои обращения', de: 'Meine Anfragen' },
  signIn: { en: 'See your requests', ru: 'Ваши обращения', de: 'Ihre Anfragen' },
  signInHelp: { en: 'Enter your email: we send you a link that signs you in, no password needed. With a ticket number, the link opens that ticket.', ru: 'Введите email: мы пришлём ссылку для входа, пароль не нужен. С номером обращения ссылка откроет это обращение.', de: 'Geben Sie Ihre E-Mail ein: Wir schicken Ihnen einen Anmeldelink, ohne Passwort. Mit einer Ticketnummer öffnet der Link dieses Ticket.' },
  ticketNumber: { en: 'Ticket number (optional)', ru: 'Номер обращения (необязательно)', de: 'Ticketnummer (optional)' },
  sendLink: { en: 'Send me a link', ru: 'Прислать ссылку', de: 'Link senden' },
  linkSent: { en: 'If this address is known to us, a link is on its way. It works once, for 15 minutes.', ru: 'Если этот адрес нам известен, ссылка уже в пути. Она действует один раз, 15 минут.', de: 'Wenn wir diese Adresse kennen, ist ein Link unterwegs. Er gilt einmal, 15 Minuten lang.' },
  linkInvalid: { en: 'This link is not valid any more. Ask for a new one.', ru: 'Эта ссылка больше не действует. Запросите новую.', de: 'Dieser Link gilt nicht mehr. Fordern Sie einen neuen an.' },
  noTickets: { en: 'You have no requests yet.', ru: 'У вас пока нет обращений.', de: 'Sie haben noch keine Anfragen.' },
  you: { en: 'You', ru: 'Вы', de: 'Sie' },
  support: { en: 'Support', ru: 'Поддержка', de: 'Support' },
  comment: { en: 'Add a comment', ru: 'Добавить комментарий', de: 'Kommentar hinzufügen' },
  files: { en: 'Files (optional)', ru: 'Файлы (необязательно)', de: 'Dateien (optional)' },
  closeTicket: { en: 'Close this request', ru: 'Закрыть обращение', de: 'Anfrage schließen' },
  rateIt: { en: 'How did we do?', ru: 'Оцените решение', de: 'Wie zufrieden sind Sie?' },
  rateComment: { en: 'Comment (optional)', ru: 'Комментарий (необязательно)', de: 'Kommentar (optional)' },
  rated: { en: 'Your rating: {rating} of 5. Thank you!', ru: 'Ваша оценка: {rating} из 5. Спасибо!', de: 'Ihre Bewertung: {rating} von 5. Danke!' },
  signOut: { en: 'Sign out', ru: 'Выйти', de: 'Abmelden' },
  signInForAll: { en: 'Sign in to see all your requests', ru: 'Войдите, чтобы увидеть все обращения', de: 'Melden Sie sich an, um alle Anfragen zu sehen' },
  status: {
    en: { new: 'new', open: 'open', in_progress: 'in progress', waiting: 'waiting', resolved: 'resolved', closed: 'closed' },
    ru: { new: 'новое', open: 'открыто', in_progress: 'в работе', waiting: 'ожидает', resolved: 'решено', closed: 'закрыто' },
    de: { new: 'neu', open: 'offen', in_progress: 'in Bearbeitung', waiting: 'wartet', resolved: 'gelöst', closed: 'geschlossen' },
  },
} as const;

type Key = Exclude<keyof typeof T, 'status'>;

export function t(locale: PageLocale, key: Key, vars: Record<string, string | number> = {}): string {
  return fillPlaceholders(T[key][locale], vars);
}

export function statusLabel(locale: PageLocale, status: string): string {
  return (T.status[locale] as Record<string, string>)[status] ?? status;
}
