/*
 * The texts of the mails we send, in the reporter's language. An organization can replace any of them
 * (`npm run cli -- template set`); placeholders are written {{name}}.
 */
export { statusName } from '../status-names.ts';

export type MailKind = 'ticket_received' | 'agent_replied' | 'status_changed' | 'portal_link';
export type MailLocale = 'en' | 'ru' | 'de';

export interface MailText { subject: string; body: string }

export const TEMPLATE_VARIABLES = ['number', 'subject', 'link', 'text', 'agent', 'status', 'organization', 'telegram', 'portal'] as const;

const DEFAULTS: Record<MailKind, Record<MailLocale, MailText>> = {
  portal_link: {
    en: { subject: 'Your requests at {{organization}}', body: 'Hello,\n\nFollow this link to see your requests (it works once, for 15 minutes):\n{{link}}\n\nIf you did not ask for it, ignore this mail.\n\n{{organization}}' },
    ru: { subject: 'Ваши обращения в {{organization}}', body: 'Здравствуйте!\n\nПерейдите по ссылке, чтобы увидеть ваши обращения (она действует один раз, 15 минут):\n{{link}}\n\nЕсли вы её не запрашивали, просто проигнорируйте письмо.\n\n{{organization}}' },
    de: { subject: 'Ihre Anfragen bei {{organization}}', body: 'Guten Tag,\n\nÜber diesen Link sehen Sie Ihre Anfragen (einmal gültig, 15 Minuten):\n{{link}}\n\nWenn Sie ihn nicht angefordert haben, ignorieren Sie diese E-Mail.\n\n{{organization}}' },
  },
  ticket_received: {
    en: { subject: '[#{{number}}] {{subject}}', body: 'Hello,\n\nYour request was registered as ticket #{{number}}. We will answer as soon as we can.\nYou can follow it online: {{link}}\n{{telegram}}\nTo add something, just reply to this mail.\n\n{{organization}}\nMy requests: {{portal}}' },
    ru: { subject: '[#{{number}}] {{subject}}', body: 'Здравствуйте!\n\nВаше обращение зарегистрировано под номером #{{number}}. Мы ответим как можно скорее.\nСледить за ним можно здесь: {{link}}\n{{telegram}}\nЧтобы что-то добавить, просто ответьте на это письмо.\n\n{{organization}}\nМои обращения: {{portal}}' },
    de: { subject: '[#{{number}}] {{subject}}', body: 'Guten Tag,\n\nIhre Anfrage wurde als Ticket #{{number}} erfasst. Wir antworten so bald wie möglich.\nSie können sie hier verfolgen: {{link}}\n{{telegram}}\nUm etwas zu ergänzen, antworten Sie einfach auf diese E-Mail.\n\n{{organization}}\nMeine Anfragen: {{portal}}' },
  },
  agent_replied: {
    en: { subject: '[#{{number}}] {{subject}}', body: '{{text}}\n\n-- \n{{agent}}, {{organization}}\nTicket #{{number}}: {{link}}\nMy requests: {{portal}}' },
    ru: { subject: '[#{{number}}] {{subject}}', body: '{{text}}\n\n-- \n{{agent}}, {{organization}}\nОбращение #{{number}}: {{link}}\nМои обращения: {{portal}}' },
    de: { subject: '[#{{number}}] {{subject}}', body: '{{text}}\n\n-- \n{{agent}}, {{organization}}\nTicket #{{number}}: {{link}}\nMeine Anfragen: {{portal}}' },
  },
  status_changed: {
    en: { subject: '[#{{number}}] {{subject}}', body: 'Hello,\n\nThe status of your ticket #{{number}} is now: {{status}}.\n{{link}}\n\n{{organization}}\nMy requests: {{portal}}' },
    ru: { subject: '[#{{number}}] {{subject}}', body: 'Здравствуйте!\n\nСтатус вашего обращения #{{number}} изменён: {{status}}.\n{{link}}\n\n{{organization}}\nМои обращения: {{portal}}' },
    de: { subject: '[#{{number}}] {{subject}}', body: 'Guten Tag,\n\nDer Status Ihres Tickets #{{number}} ist jetzt: {{status}}.\n{{link}}\n\n{{organization}}\nMeine Anfragen: {{portal}}' },
  },
};


const TELEGRAM_OFFER: Record<MailLocale, string> = {
  en: 'Answers can also come to you in Telegram: ',
  ru: 'Получать ответы можно и в Telegram: ',
  de: 'Antworten können Sie auch in Telegram erhalten: ',
};

/** The line offering to follow the ticket in Telegram, with a one-time link; empty without a bot. */
export function telegramOffer(locale: MailLocale, url: string | null): string {
  return url ? `${TELEGRAM_OFFER[locale]}${url}\n` : '';
}

const AGENT_FALLBACK: Record<MailLocale, string> = { en: 'Support team', ru: 'Служба поддержки', de: 'Support-Team' };

export function isMailKind(kind: string): kind is MailKind {
  return Object.hasOwn(DEFAULTS, kind);
}

export function mailLocale(locale: string | null | undefined): MailLocale {
  return locale === 'ru' || locale === 'de' ? locale : 'en';
}

export function defaultTemplate(kind: MailKind, locale: MailLocale): MailText {
  return DEFAULTS[kind][locale];
}


export function agentFallback(locale: MailLocale): string {
  return AGENT_FALLBACK[locale];
}

/** Fills {{name}} placeholders; unknown ones stay visible so that a typo in a custom template is noticed. */
export function render(template: MailText, vars: Partial<Record<(typeof TEMPLATE_VARIABLES)[number], string>>): MailText {
  const fill = (s: string) => s.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, name: string) => (vars as Record<string, string | undefined>)[name] ?? whole);
  return { subject: fill(template.subject).replace(/[\r\n]+/g, ' ').trim(), body: fill(template.body) };
}

/** A guess at the language of a text, for a reporter who first wrote by mail (mail says nothing reliable). */
export function guessLocale(text: string, contentLanguage: string | null): MailLocale {
  const declared = contentLanguage?.slice(0, 2).toLowerCase();
  if (declared === 'ru' || declared === 'de' || declared === 'en') return declared;
  const sample = text.slice(0, 2000);
  const letters = sample.match(/\p{L}/gu)?.length ?? 0;
  const cyrillic = sample.match(/\p{Script=Cyrillic}/gu)?.length ?? 0;
  if (letters > 0 && cyrillic / letters > 0.3) return 'ru';
  if (/[äöüß]/i.test(sample) || /\b(und|nicht|bitte|ich|ist|funktioniert|danke|hallo|guten)\b/i.test(sample)) return 'de';
  return 'en';
}
