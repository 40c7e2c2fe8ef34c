import type { Locale } from '../../core/vocabulary.ts';
import { fillPlaceholders } from '../../core/text.ts';

/**
 * What the Slack app says to agents, in the workspace's language (`slack add --language`, SLACK_LANGUAGE).
 * One language per workspace: a triage channel is shared, so its messages cannot follow each reader.
 * Placeholders are `{name}`; values are put in as given (escape what people wrote before passing it).
 */
const TEXTS = {
  // The ticket's message in the channel.
  reporter: { en: 'Reporter', ru: 'Заявитель', de: 'Gemeldet von' },
  status: { en: 'Status', ru: 'Статус', de: 'Status' },
  priority: { en: 'Priority', ru: 'Приоритет', de: 'Priorität' },
  assignee: { en: 'Assignee', ru: 'Исполнитель', de: 'Zuständig' },
  deadline: { en: 'Deadline', ru: 'Срок', de: 'Frist' },
  object: { en: 'Object', ru: 'Объект', de: 'Objekt' },
  category: { en: 'Category', ru: 'Категория', de: 'Kategorie' },
  service: { en: 'Service', ru: 'Услуга', de: 'Dienst' },
  via: { en: '{reporter} via {channel}', ru: '{reporter}, канал: {channel}', de: '{reporter} über {channel}' },
  unknownReporter: { en: 'unknown', ru: 'неизвестен', de: 'unbekannt' },
  nobody: { en: '_nobody yet_', ru: '_пока никто_', de: '_noch niemand_' },
  take: { en: 'Take', ru: 'Взять', de: 'Übernehmen' },
  resolve: { en: 'Resolve', ru: 'Решить', de: 'Lösen' },
  close: { en: 'Close', ru: 'Закрыть', de: 'Schließen' },
  summary: { en: '#{number} {subject} ({status}, {priority})', ru: '#{number} {subject} ({status}, {priority})', de: '#{number} {subject} ({status}, {priority})' },

  // The thread.
  noteHeader: { en: ':lock: {who} left an internal note:', ru: ':lock: {who} оставил(а) внутреннюю заметку:', de: ':lock: {who} hat eine interne Notiz hinterlassen:' },
  openedForHeader: {
    en: ':memo: {who} opened this ticket for the reporter ({channel}):',
    ru: ':memo: {who} открыл(а) это обращение от имени заявителя ({channel}):',
    de: ':memo: {who} hat dieses Ticket für die meldende Person eröffnet ({channel}):',
  },
  answeredHeader: { en: ':outbox_tray: {who} answered the reporter ({channel}):', ru: ':outbox_tray: {who} ответил(а) заявителю ({channel}):', de: ':outbox_tray: {who} hat der meldenden Person geantwortet ({channel}):' },
  wroteHeader: { en: ':speech_balloon: {who} wrote:', ru: ':speech_balloon: {who} пишет:', de: ':speech_balloon: {who} schreibt:' },
  fileNotPosted: {
    en: ':paperclip: The file "{name}" could not be posted here ({reason}); it is on <{link}|the ticket>.',
    ru: ':paperclip: Файл «{name}» не удалось выложить сюда ({reason}); он есть в <{link}|обращении>.',
    de: ':paperclip: Die Datei „{name}“ konnte hier nicht gepostet werden ({reason}); sie liegt im <{link}|Ticket>.',
  },
  filesOnly: { en: '_(files only)_', ru: '_(только файлы)_', de: '_(nur Dateien)_' },
  empty: { en: '_(empty)_', ru: '_(пусто)_', de: '_(leer)_' },
  cut: { en: '_(cut; the whole message is on <{link}|the ticket>)_', ru: '_(сокращено; полностью — в <{link}|обращении>)_', de: '_(gekürzt; die ganze Nachricht steht im <{link}|Ticket>)_' },
  notDelivered: {
    en: ':warning: Not delivered to the reporter: {reasons}. The reply is kept on the ticket.',
    ru: ':warning: Не доставлено заявителю: {reasons}. Ответ сохранён в обращении.',
    de: ':warning: Nicht an die meldende Person zugestellt: {reasons}. Die Antwort bleibt im Ticket gespeichert.',
  },

  // What only the person who acted sees.
  notMember: {
    en: 'Only full members of this Slack workspace can act for the helpdesk (not guests, bots or people from other organizations): nothing was sent or changed.',
    ru: 'Действовать от имени службы поддержки могут только полноправные участники этого пространства Slack (не гости, боты или люди из других организаций): ничего не отправлено и не изменено.',
    de: 'Nur vollwertige Mitglieder dieses Slack-Workspaces können für den Helpdesk handeln (keine Gäste, Bots oder Personen anderer Organisationen): Es wurde nichts gesendet oder geändert.',
  },
  notAgent: {
    en: 'Your Slack account ({email}) is not an agent of this helpdesk, so nothing was sent or changed. Ask an admin to add an agent with this email.',
    ru: 'Ваша учётная запись Slack ({email}) не принадлежит сотруднику этой службы поддержки, поэтому ничего не отправлено и не изменено. Попросите администратора добавить сотрудника с этим адресом.',
    de: 'Ihr Slack-Konto ({email}) ist kein Agent dieses Helpdesks, daher wurde nichts gesendet oder geändert. Bitten Sie eine Admin-Person, einen Agenten mit dieser E-Mail anzulegen.',
  },
  noEmail: {
    en: 'Slack does not tell us your email address, so we cannot match you to an agent of this helpdesk: nothing was sent or changed. (The app needs the users:read.email scope.)',
    ru: 'Slack не сообщает нам ваш адрес электронной почты, поэтому мы не можем сопоставить вас с сотрудником: ничего не отправлено и не изменено. (Приложению нужно право users:read.email.)',
    de: 'Slack nennt uns Ihre E-Mail-Adresse nicht, daher können wir Sie keinem Agenten zuordnen: Es wurde nichts gesendet oder geändert. (Die App braucht den Scope users:read.email.)',
  },
  changeRefused: { en: '#{number}: {reason}', ru: '#{number}: изменение не принято. {reason}', de: '#{number}: Änderung nicht übernommen. {reason}' },
  takenBy: {
    en: '#{number} is already taken by {name}: ask them, or change the assignee, to hand it on.',
    ru: '#{number} уже взял(а) {name}: договоритесь с ним/ней или смените исполнителя.',
    de: '#{number} hat bereits {name} übernommen: Sprechen Sie sich ab oder ändern Sie die zuständige Person.',
  },
  replyFailed: {
    en: 'Your reply could not be taken ({reason}), so nothing was sent to the reporter. Please send it again.',
    ru: 'Ваш ответ не удалось принять ({reason}), поэтому заявителю ничего не отправлено. Пожалуйста, отправьте его ещё раз.',
    de: 'Ihre Antwort konnte nicht übernommen werden ({reason}), daher wurde der meldenden Person nichts gesendet. Bitte senden Sie sie noch einmal.',
  },
  requestFailed: {
    en: 'That could not be done ({reason}); nothing was changed. Please try again.',
    ru: 'Это не удалось сделать ({reason}); ничего не изменено. Пожалуйста, попробуйте ещё раз.',
    de: 'Das hat nicht geklappt ({reason}); es wurde nichts geändert. Bitte versuchen Sie es noch einmal.',
  },
  formFailed: {
    en: 'The form could not be opened ({reason}). Please run `{command} new` again.',
    ru: 'Форму не удалось открыть ({reason}). Пожалуйста, выполните `{command} new` ещё раз.',
    de: 'Das Formular konnte nicht geöffnet werden ({reason}). Bitte führen Sie `{command} new` noch einmal aus.',
  },
  emptyReply: {
    en: 'Nothing was kept: there is no text after "{marker}". Write the note after the marker, like "{marker} the disk is failing".',
    ru: 'Ничего не сохранено: после «{marker}» нет текста. Напишите заметку после метки, например «{marker} диск сбоит».',
    de: 'Nichts gespeichert: Nach „{marker}“ steht kein Text. Schreiben Sie die Notiz hinter die Markierung, z. B. „{marker} die Platte fällt aus“.',
  },
  replyRefused: { en: 'This reply was not taken: {reason}', ru: 'Этот ответ не принят: {reason}', de: 'Diese Antwort wurde nicht übernommen: {reason}' },
  noTicket: { en: 'Ticket #{number} does not exist in this helpdesk.', ru: 'Обращения #{number} в этой службе поддержки нет.', de: 'Ticket #{number} gibt es in diesem Helpdesk nicht.' },
  itsThread: { en: '<{link}|Open its thread> in <#{channel}>', ru: '<{link}|Открыть ветку обращения> в <#{channel}>', de: '<{link}|Thread öffnen> in <#{channel}>' },
  itsChannel: { en: 'Its thread is in <#{channel}>.', ru: 'Ветка обращения — в <#{channel}>.', de: 'Der Thread steht in <#{channel}>.' },
  notCreated: { en: 'The ticket was not created: {reason}', ru: 'Обращение не создано: {reason}', de: 'Das Ticket wurde nicht angelegt: {reason}' },
  created: {
    en: 'Ticket <{link}|#{number}> created; it appears in the triage channel.',
    ru: 'Обращение <{link}|#{number}> создано; оно появится в канале разбора.',
    de: 'Ticket <{link}|#{number}> angelegt; es erscheint im Triage-Kanal.',
  },
  already: { en: 'This was already ticket <{link}|#{number}>.', ru: 'Это уже обращение <{link}|#{number}>.', de: 'Das ist bereits Ticket <{link}|#{number}>.' },
  usage: {
    en: 'Usage: `{command} 1042` shows ticket #1042; `{command} new` opens a form to create one.',
    ru: 'Как пользоваться: `{command} 1042` показывает обращение #1042; `{command} new` открывает форму нового обращения.',
    de: 'So geht es: `{command} 1042` zeigt Ticket #1042; `{command} new` öffnet ein Formular für ein neues Ticket.',
  },

  // Files in a reply or a shortcut's message that could not come along (these reach the ticket).
  fileUnavailable: { en: '[The file "{name}" could not be taken from Slack.]', ru: '[Файл «{name}» не удалось получить из Slack.]', de: '[Die Datei „{name}“ konnte nicht aus Slack geholt werden.]' },
  fileTooLarge: {
    en: '[The file "{name}" ({size} MB) was left out: it is larger than {limit} MB.]',
    ru: '[Файл «{name}» ({size} МБ) не приложен: он больше {limit} МБ.]',
    de: '[Die Datei „{name}“ ({size} MB) fehlt: Die Datei ist größer als {limit} MB.]',
  },
  fileNoScope: {
    en: '[The file "{name}" could not be taken from Slack: the app may not read files (it needs the files:read scope).]',
    ru: '[Файл «{name}» не удалось получить из Slack: приложению не разрешено читать файлы (нужно право files:read).]',
    de: '[Die Datei „{name}“ konnte nicht aus Slack geholt werden: Die App darf keine Dateien lesen (Scope files:read fehlt).]',
  },
  slackMessage: { en: 'Slack message', ru: 'Сообщение из Slack', de: 'Slack-Nachricht' },

  // The `/ticket new` form.
  modalTitle: { en: 'New ticket', ru: 'Новое обращение', de: 'Neues Ticket' },
  modalSubmit: { en: 'Create', ru: 'Создать', de: 'Anlegen' },
  modalCancel: { en: 'Cancel', ru: 'Отмена', de: 'Abbrechen' },
  reporterEmail: { en: "Reporter's email", ru: 'Email заявителя', de: 'E-Mail der meldenden Person' },
  reporterName: { en: "Reporter's name", ru: 'Имя заявителя', de: 'Name der meldenden Person' },
  subject: { en: 'Subject', ru: 'Тема', de: 'Betreff' },
  description: { en: 'What happened', ru: 'Что случилось', de: 'Was ist passiert' },
  badEmail: { en: 'An email address we can answer the reporter at, like name@example.com.', ru: 'Адрес, по которому можно ответить заявителю, например name@example.com.', de: 'Eine Adresse, unter der wir antworten können, z. B. name@example.com.' },
  noSubject: { en: 'A few words that say what it is about.', ru: 'Несколько слов о том, в чём дело.', de: 'Ein paar Worte, worum es geht.' },
  noDescription: { en: 'Describe the problem; the reporter will see this.', ru: 'Опишите проблему; заявитель это увидит.', de: 'Beschreiben Sie das Problem; die meldende Person sieht diesen Text.' },
  tooLong: { en: 'At most {max} characters.', ru: 'Не больше {max} символов.', de: 'Höchstens {max} Zeichen.' },
  badPriority: { en: 'One of {priorities}.', ru: 'Одно из: {priorities}.', de: 'Eine von: {priorities}.' },
} as const satisfies Record<string, Record<Locale, string>>;

export type SlackTextKey = keyof typeof TEXTS;

export function slackText(key: SlackTextKey, locale: Locale, vars: Record<string, string | number> = {}): string {
  return fillPlaceholders(TEXTS[key][locale], vars);
}

/** Statuses as agents say them (the reporters' wording, "waiting for your answer", would be wrong here). */
const STAFF_STATUS: Record<Locale, Record<string, string>> = {
  en: { new: 'New', open: 'Open', in_progress: 'In progress', waiting: 'Waiting for the reporter', resolved: 'Resolved', closed: 'Closed' },
  ru: { new: 'Новое', open: 'Открыто', in_progress: 'В работе', waiting: 'Ждёт ответа заявителя', resolved: 'Решено', closed: 'Закрыто' },
  de: { new: 'Neu', open: 'Offen', in_progress: 'In Bearbeitung', waiting: 'Wartet auf Rückmeldung', resolved: 'Gelöst', closed: 'Geschlossen' },
};

const PRIORITY_NAMES: Record<Locale, Record<string, string>> = {
  en: { low: 'Low', normal: 'Normal', high: 'High', urgent: 'Urgent' },
  ru: { low: 'Низкий', normal: 'Обычный', high: 'Высокий', urgent: 'Срочный' },
  de: { low: 'Niedrig', normal: 'Normal', high: 'Hoch', urgent: 'Dringend' },
};

/** The channel a reporter wrote by, as agents name it. */
const CHANNEL_NAMES: Record<Locale, Record<string, string>> = {
  en: { email: 'email', telegram: 'Telegram', slack: 'Slack', web: 'web form', qr: 'QR code', api: 'API', system: 'system' },
  ru: { email: 'email', telegram: 'Telegram', slack: 'Slack', web: 'веб-форма', qr: 'QR-код', api: 'API', system: 'система' },
  de: { email: 'E-Mail', telegram: 'Telegram', slack: 'Slack', web: 'Webformular', qr: 'QR-Code', api: 'API', system: 'System' },
};

export const staffStatus = (status: string, locale: Locale): string => STAFF_STATUS[locale][status] ?? status;
export const priorityName = (priority: string, locale: Locale): string => PRIORITY_NAMES[locale][priority] ?? priority;
export const channelName = (channel: string, locale: Locale): string => CHANNEL_NAMES[locale][channel] ?? channel;
