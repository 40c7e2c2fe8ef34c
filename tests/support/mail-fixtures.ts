import { randomBytes } from 'node:crypto';
import iconv from 'iconv-lite';

/*
 * Raw mails as real clients write them, byte for byte: charsets other than UTF-8, encoded words, RFC 2231
 * file names, multipart structures, delivery status reports. Built by hand so that nothing normalizes them.
 */

export interface RawPart { headers: string[]; body: Buffer | string }

export function messageId(): string {
  return `<${randomBytes(8).toString('hex')}@client.example>`;
}

/** RFC 2047 encoded word, base64, in any charset iconv-lite knows. */
export function encodedWord(text: string, charset = 'utf-8'): string {
  return `=?${charset}?B?${iconv.encode(text, charset).toString('base64')}?=`;
}

/** RFC 2231 extended parameter value (`filename*=charset''%XX...`). */
export function rfc2231(name: string, value: string, charset = 'utf-8'): string {
  const bytes = iconv.encode(value, charset);
  return `${name}*=${charset}''${[...bytes].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('')}`;
}

export function mail(opts: {
  from: string;
  to?: string;
  subject?: string;
  id?: string;
  headers?: string[];
  /** A single part body (text/plain; UTF-8 unless `charset`), or several parts. */
  text?: string;
  charset?: string;
  parts?: RawPart[];
  contentType?: string;
}): Buffer {
  const id = opts.id ?? messageId();
  const head = [
    `From: ${opts.from}`,
    `To: ${opts.to ?? 'support@helpdesk.test'}`,
    `Subject: ${opts.subject ?? 'Hello'}`,
    `Message-ID: ${id}`,
    `Date: ${new Date().toUTCString()}`,
    'MIME-Version: 1.0',
    ...(opts.headers ?? []),
  ];
  if (!opts.parts) {
    const charset = opts.charset ?? 'utf-8';
    head.push(`Content-Type: text/plain; charset=${charset}`, 'Content-Transfer-Encoding: 8bit');
    return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`), iconv.encode((opts.text ?? '').replace(/\n/g, '\r\n'), charset), Buffer.from('\r\n')]);
  }
  const boundary = `b-${randomBytes(6).toString('hex')}`;
  head.push(`Content-Type: ${opts.contentType ?? 'multipart/mixed'}; boundary="${boundary}"`);
  const chunks: Buffer[] = [Buffer.from(`${head.join('\r\n')}\r\n\r\nThis is a multi-part message in MIME format.\r\n`)];
  for (const p of opts.parts) {
    chunks.push(Buffer.from(`--${boundary}\r\n${p.headers.join('\r\n')}\r\n\r\n`));
    chunks.push(typeof p.body === 'string' ? Buffer.from(p.body) : p.body, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

export function textPart(text: string, charset = 'utf-8'): RawPart {
  return { headers: [`Content-Type: text/plain; charset=${charset}`, 'Content-Transfer-Encoding: 8bit'], body: iconv.encode(text, charset) };
}

export function filePart(content: Buffer, disposition: string, contentType = 'application/octet-stream'): RawPart {
  const b64 = content.toString('base64').replace(/.{76}/g, '$&\r\n');
  return { headers: [`Content-Type: ${contentType}`, 'Content-Transfer-Encoding: base64', `Content-Disposition: ${disposition}`], body: b64 };
}
