import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface SentMail { envelopeTo: string[]; raw: Buffer; parsed: ParsedMail }

export interface SmtpSink {
  port: number;
  url: string;
  mails: SentMail[];
  /** Recipients the sink refuses with 550, as a mail server does for an address that does not exist. */
  refuse: Set<string>;
  /** Recipients the sink answers 451 (try again later), as many times as the count says. */
  tempfail: Map<string, number>;
  /** Resolves with the first mail (already received or to come) that matches. */
  waitFor(match: (m: SentMail) => boolean, timeoutMs?: number): Promise<SentMail>;
  close(): Promise<void>;
}

/** An in-process SMTP server that keeps every mail it accepts, parsed (unless `parse: false`). */
export async function startSmtpSink(opts: { parse?: boolean } = {}): Promise<SmtpSink> {
  const parse = opts.parse ?? true;
  const mails: SentMail[] = [];
  const refuse = new Set<string>();
  const tempfail = new Map<string, number>();
  const waiters: Array<{ match: (m: SentMail) => boolean; resolve: (m: SentMail) => void }> = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(address, _session, callback) {
      if (refuse.has(address.address.toLowerCase())) {
        const err = new Error('5.1.1 No such user here') as Error & { responseCode: number };
        err.responseCode = 550;
        callback(err);
        return;
      }
      const left = tempfail.get(address.address.toLowerCase()) ?? 0;
      if (left > 0) {
        tempfail.set(address.address.toLowerCase(), left - 1);
        const err = new Error('4.2.0 Mailbox busy, try again later') as Error & { responseCode: number };
        err.responseCode = 451;
        callback(err);
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        // A benchmark only counts mails: parsing them here would cost the process it measures.
        void (parse ? simpleParser(raw) : Promise.resolve({} as ParsedMail)).then((parsed) => {
          const mail = { envelopeTo: session.envelope.rcptTo.map((r) => r.address.toLowerCase()), raw, parsed };
          mails.push(mail);
          for (const w of [...waiters]) {
            if (w.match(mail)) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve(mail);
            }
          }
          callback();
        }, callback);
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as { port: number }).port;
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    mails,
    refuse,
    tempfail,
    waitFor(match, timeoutMs = 15_000) {
      const found = mails.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { match, resolve: (m: SentMail) => { clearTimeout(timer); resolve(m); } };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no matching mail within ${timeoutMs} ms; got ${mails.length}: ${mails.map((m) => m.parsed.subject).join(' | ')}`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
