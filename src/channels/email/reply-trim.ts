import EmailReplyParser from 'email-reply-parser';

/*
 * Cuts the quoted history off a reply, so that a ticket shows what the reporter wrote this time. The library
 * knows the English and German attribution lines and quote markers; the headers Outlook puts above a quote
 * ("От:/Отправлено:", "Von:/Gesendet:", "From:/Sent:") and Russian attributions are cut here first.
 */
const ATTRIBUTION_LINES: RegExp[] = [
  /^.{0,200}(написал|написала|написал\(а\)|пишет)\s*:\s*$/im,
  /^-{2,}\s*(Original Message|Исходное сообщение|Ursprüngliche Nachricht|Пересылаемое сообщение|Forwarded message)\s*-{2,}\s*$/im,
  /^_{10,}\s*$/m,
];
const OUTLOOK_HEADER = /^(From|От|Von|De):\s.+\n(.+\n){0,2}?(Sent|Date|Отправлено|Дата|Gesendet|Datum|Envoyé):\s.+$/im;

const parser = new EmailReplyParser();

export function trimQuotedReply(text: string): string {
  let cut = text.replace(/\r\n/g, '\n');
  for (const re of [...ATTRIBUTION_LINES, OUTLOOK_HEADER]) {
    const m = re.exec(cut);
    if (m && m.index > 0) cut = cut.slice(0, m.index);
  }
  const visible = parser.parseReply(cut).trim();
  // A mail that is nothing but a quote (a bare forward) keeps its text rather than becoming empty.
  return visible.length > 0 ? visible : text.trim();
}
