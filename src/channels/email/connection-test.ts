import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { imapConnection } from './imap-url.ts';

export interface ConnectionReport { imap: { ok: boolean; detail: string }; smtp: { ok: boolean; detail: string } }

/** Logs in to the mailbox's IMAP and SMTP servers and says, in words, what works and what does not. */
export async function testMailboxConnection(imapUrl: string, smtpUrl: string, timeoutMs = 20_000): Promise<ConnectionReport> {
  const [imap, smtp] = await Promise.all([testImap(imapUrl, timeoutMs), testSmtp(smtpUrl, timeoutMs)]);
  return { imap, smtp };
}

async function testImap(imapUrl: string, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  const client = new ImapFlow({
    ...imapConnection(imapUrl),
    logger: false, connectionTimeout: timeoutMs, greetingTimeout: timeoutMs,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const box = await client.mailboxOpen('INBOX', { readOnly: true });
    const idle = client.capabilities.has('IDLE');
    await client.logout();
    return { ok: true, detail: `INBOX has ${box.exists} messages; ${idle ? 'IDLE supported' : `no IDLE, polling`}` };
  } catch (err) {
    client.close();
    const e = err as { authenticationFailed?: boolean; message?: string; responseText?: string };
    return { ok: false, detail: e.authenticationFailed ? 'login refused: check the user name and password' : (e.responseText ?? e.message ?? String(err)) };
  }
}

async function testSmtp(smtpUrl: string, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  const transport = nodemailer.createTransport(smtpUrl, { connectionTimeout: timeoutMs, greetingTimeout: timeoutMs } as never);
  try {
    await transport.verify();
    return { ok: true, detail: 'connected and accepted the login' };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  } finally {
    transport.close();
  }
}
