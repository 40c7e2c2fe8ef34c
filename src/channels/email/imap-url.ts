/** Connection settings for imapflow from a mailbox's IMAP URL (imaps:// is TLS on 993, imap:// plain or STARTTLS on 143). */
export function imapConnection(imapUrl: string): { host: string; port: number; secure: boolean; auth: { user: string; pass: string } } {
  const url = new URL(imapUrl);
  return {
    host: url.hostname,
    port: Number(url.port) || (url.protocol === 'imaps:' ? 993 : 143),
    secure: url.protocol === 'imaps:',
    auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) },
  };
}
