import { createHash } from 'node:crypto';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import sanitizeHtml from 'sanitize-html';
import type { MailHeaders } from './automatic.ts';

/** A mail as the email channel needs it, whatever charset and structure it came in. */
export interface ReadMail {
  /** The Message-ID, with angle brackets; made from the bytes when the mail has none. */
  messageId: string;
  /** In-Reply-To and References, oldest last. */
  referenced: string[];
  from: { address: string; name: string };
  /** Every address the mail was delivered to (To, Cc, Delivered-To, X-Original-To). */
  recipients: string[];
  subject: string;
  text: string;
  html: string | null;
  contentType: string;
  headers: MailHeaders;
  deliveryStatus: string[];
  files: MailFile[];
  date: Date | null;
  contentLanguage: string | null;
}

export interface MailFile { filename: string; contentType: string; content: Buffer; inline: boolean }

/** A value from a header as SQL may store it: no NUL characters (Postgres refuses them), bounded length. */
function clean(value: string, max = 998): string {
  return value.replace(/\u0000/g, '').slice(0, max);
}

export async function readMail(raw: Buffer): Promise<ReadMail> {
  // No text-to-HTML, link or html-to-text conversions: they cost more than the rest of parsing, and the HTML
  // is sanitized (and turned into text when there is no text part) below.
  const parsed = await simpleParser(raw, { skipImageLinks: true, skipTextToHtml: true, skipHtmlToText: true, skipTextLinks: true });
  const headers = headerMap(parsed);
  const declaredId = parsed.messageId ? clean(parsed.messageId).trim() : undefined;
  const messageId = declaredId && /^<[^<>\s]+>$/.test(declaredId)
    ? declaredId
    : `<${createHash('sha256').update(raw).digest('hex').slice(0, 40)}@no-message-id>`;
  const html = typeof parsed.html === 'string' && parsed.html.trim() ? sanitize(parsed.html) : null;
  const text = (parsed.text ?? '').trim() || (html ? htmlToPlain(html) : '');
  const deliveryStatus: string[] = [];
  const files: MailFile[] = [];
  for (const a of parsed.attachments) {
    if (/^message\/(delivery-status|global-delivery-status)/i.test(a.contentType)) {
      deliveryStatus.push(a.content.toString('utf8'));
      continue;
    }
    files.push({
      filename: clean(a.filename?.trim() ?? '', 255) || defaultName(a.contentType, files.length + 1),
      contentType: a.contentType || 'application/octet-stream',
      content: a.content,
      inline: a.contentDisposition === 'inline' || Boolean(a.related),
    });
  }
  const contentType = headers.get('content-type')[0] ?? 'text/plain';
  // mailparser folds a report's message/delivery-status part into the text; the recipients are read from there.
  if (deliveryStatus.length === 0 && /multipart\/report/i.test(contentType) && /Final-Recipient:/i.test(parsed.text ?? '')) {
    deliveryStatus.push(parsed.text ?? '');
  }
  return {
    messageId,
    referenced: referencedIds(parsed),
    from: firstAddress(parsed.from),
    recipients: recipients(parsed, headers),
    subject: clean((parsed.subject ?? '').replace(/\s+/g, ' ').trim(), 2000),
    text,
    html,
    contentType,
    headers,
    deliveryStatus,
    files,
    date: parsed.date ?? null,
    contentLanguage: headers.get('content-language')[0] ?? null,
  };
}

function headerMap(parsed: ParsedMail): MailHeaders {
  const byName = new Map<string, string[]>();
  for (const { key, line } of parsed.headerLines) {
    // The raw line ("Name: value", folded): the value as sent, which is what the automatic-mail checks read.
    const value = clean(line.slice(line.indexOf(':') + 1).replace(/\r?\n[ \t]+/g, ' ').trim(), 10_000);
    const list = byName.get(key) ?? [];
    list.push(value);
    byName.set(key, list);
  }
  return { get: (name: string) => byName.get(name.toLowerCase()) ?? [] };
}

function referencedIds(parsed: ParsedMail): string[] {
  const ids: string[] = [];
  const add = (v: string | string[] | undefined) => {
    for (const part of Array.isArray(v) ? v : v ? [v] : []) {
      for (const id of clean(part, 100_000).match(/<[^<>\s]{1,996}>/g) ?? []) if (!ids.includes(id) && ids.length < 100) ids.push(id);
    }
  };
  add(parsed.inReplyTo);
  // References list the oldest first; the nearest parent is the most telling, so it goes first.
  add(Array.isArray(parsed.references) ? [...parsed.references].reverse() : parsed.references);
  return ids;
}

function firstAddress(obj: AddressObject | AddressObject[] | undefined): { address: string; name: string } {
  const list = Array.isArray(obj) ? obj : obj ? [obj] : [];
  for (const o of list) {
    for (const v of o.value) if (v.address) return { address: clean(v.address.trim().toLowerCase(), 320), name: clean((v.name ?? '').trim(), 200) };
  }
  return { address: '', name: '' };
}

function recipients(parsed: ParsedMail, headers: MailHeaders): string[] {
  const found = new Set<string>();
  for (const obj of [parsed.to, parsed.cc]) {
    for (const o of Array.isArray(obj) ? obj : obj ? [obj] : []) {
      for (const v of o.value) if (v.address) found.add(clean(v.address.toLowerCase(), 320));
    }
  }
  for (const name of ['delivered-to', 'x-original-to', 'envelope-to']) {
    for (const v of headers.get(name)) {
      const m = /<?([^\s<>]+@[^\s<>]+)>?/.exec(v);
      if (m) found.add(clean(m[1]!.toLowerCase(), 320));
    }
  }
  return [...found];
}

/** HTML as it may be shown to agents: no scripts, styles, event handlers or remote trackers beyond images. */
function sanitize(html: string): string {
  return sanitizeHtml(html, {
    allowedTags: [...sanitizeHtml.defaults.allowedTags, 'img', 'font', 'center'],
    allowedAttributes: {
      ...sanitizeHtml.defaults.allowedAttributes,
      img: ['src', 'alt', 'width', 'height'],
      td: ['colspan', 'rowspan', 'align'],
      th: ['colspan', 'rowspan', 'align'],
      font: ['color'],
    },
    allowedSchemes: ['http', 'https', 'mailto', 'cid', 'tel'],
    allowedSchemesByTag: { img: ['cid', 'data', 'https'] },
  });
}

/** Readable plain text of sanitized HTML, for mail that has no text part of its own. */
function htmlToPlain(html: string): string {
  const withBreaks = html
    .replace(/<\s*br\s*\/?>/gi, '\n')
    .replace(/<\/(p|div|tr|li|h[1-6]|blockquote)>/gi, '\n')
    .replace(/<li[^>]*>/gi, '• ');
  const text = sanitizeHtml(withBreaks, { allowedTags: [], allowedAttributes: {} });
  return decodeEntities(text).replace(/[ \t]+\n/g, '\n').replace(/\n{3,}/g, '\n\n').trim();
}

function decodeEntities(s: string): string {
  return s
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;|&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&amp;/g, '&');
}

function defaultName(contentType: string, n: number): string {
  const ext = /^image\/(png|jpeg|gif|webp)$/i.exec(contentType)?.[1]?.replace('jpeg', 'jpg') ?? 'bin';
  return `attachment-${n}.${ext}`;
}
