import { ImapFlow } from 'imapflow';
import type { Logger } from 'pino';
import type { MailboxConfig, Mailboxes } from '../../persistence/mailboxes.ts';
import type { TakeResult } from './inbound.ts';

export interface ReaderOptions {
  mailbox: MailboxConfig;
  mailboxes: Mailboxes;
  take: (mailbox: MailboxConfig, raw: Buffer) => Promise<TakeResult>;
  /** Records a mail too large to download; it stays in the mailbox. */
  tooLarge: (mailbox: MailboxConfig, mail: { uid: number; size: number; messageId: string | null; from: string; subject: string }) => Promise<void>;
  logger: Logger;
  /** Longest wait between two looks at the mailbox when the server sends no news. */
  pollMs: number;
  maxBytes: number;
  /** Delay before the client enters IDLE once quiet (imapflow's default of 15 s delays new mail as long). */
  idleDelayMs?: number;
}

const BACKOFF_MS = [1000, 2000, 5000, 10_000, 30_000, 60_000];

/**
 * Reads one mailbox for as long as it runs: takes every message after the checkpoint, in UID order, flags
 * it \Seen and advances the checkpoint only once the mail is settled (ticket committed, or recorded as
 * automatic, held or failed). Then waits for news: IMAP IDLE where the server has it (imapflow polls with
 * NOOP where not), and a full look every `pollMs` regardless. A lost connection is opened again with backoff.
 */
export class MailboxReader {
  private client: ImapFlow | null = null;
  private stopped = false;
  private wake: (() => void) | null = null;
  /** Set when the server announced new mail while no one was waiting for it. */
  private news = false;
  private running: Promise<void> | null = null;

  constructor(private readonly o: ReaderOptions) {}

  start(): void {
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    const client = this.client;
    if (client) await client.logout().catch(() => client.close());
    await this.running;
  }

  private get log(): Logger {
    return this.o.logger.child({ mailbox: this.o.mailbox.address });
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        await this.session(() => { failures = 0; });
      } catch (err) {
        if (this.stopped) break;
        const delay = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)]!;
        failures += 1;
        const message = (err as Error).message ?? String(err);
        this.log.warn({ err: message, retryInMs: delay }, 'mailbox session ended; connecting again');
        await this.o.mailboxes.noteError(this.o.mailbox.id, message).catch(() => undefined);
        await this.sleep(delay);
      }
    }
  }

  private async session(connected: () => void): Promise<void> {
    const url = new URL(this.o.mailbox.imapUrl);
    const client = new ImapFlow({
      host: url.hostname,
      port: Number(url.port) || (url.protocol === 'imaps:' ? 993 : 143),
      secure: url.protocol === 'imaps:',
      auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) },
      logger: false,
      autoIdleDelay: this.o.idleDelayMs ?? 1000,
      maxIdleTime: Math.max(60_000, this.o.pollMs),
      missingIdleCommand: 'NOOP',
      socketTimeout: 5 * 60_000,
      connectionTimeout: 30_000,
    } as ConstructorParameters<typeof ImapFlow>[0]);
    this.client = client;
    let closed: (err: Error) => void = () => undefined;
    const closedPromise = new Promise<never>((_, reject) => { closed = reject; });
    closedPromise.catch(() => undefined);
    client.on('close', () => closed(new Error('the IMAP connection closed')));
    client.on('error', (err: Error) => closed(err));
    client.on('exists', () => {
      this.news = true;
      this.wake?.();
    });
    try {
      await client.connect();
      await client.mailboxOpen('INBOX');
      connected();
      this.log.info({ idle: client.capabilities.has('IDLE') }, 'reading mailbox');
      while (!this.stopped) {
        this.news = false;
        await Promise.race([this.sync(client), closedPromise]);
        if (this.stopped) break;
        await Promise.race([this.sleep(this.o.pollMs), closedPromise]);
      }
    } finally {
      this.client = null;
      if (client.usable) await client.logout().catch(() => client.close());
      else client.close();
    }
  }

  /** Takes every message the checkpoint has not covered yet. */
  private async sync(client: ImapFlow): Promise<void> {
    const box = client.mailbox;
    if (!box) throw new Error('no mailbox is open');
    const uidValidity = String(box.uidValidity);
    const uidNext = Number(box.uidNext);
    const cp = (await this.o.mailboxes.checkpoint(this.o.mailbox.id)) ?? { uidValidity: null, lastUid: 0 };
    let uids: number[];
    let firstLook = false;
    if (cp.uidValidity === null) {
      // A newly connected mailbox: what is unread now is what people are waiting on; old read mail is history.
      firstLook = true;
      uids = (await client.search({ seen: false }, { uid: true })) || [];
    } else if (cp.uidValidity !== uidValidity) {
      // The server renumbered the mailbox: look at everything again; the Message-ID check skips what we took.
      this.log.warn({ was: cp.uidValidity, now: uidValidity }, 'UIDVALIDITY changed; reading the whole mailbox again');
      uids = (await client.search({ all: true }, { uid: true })) || [];
    } else {
      uids = ((await client.search({ uid: `${cp.lastUid + 1}:*` }, { uid: true })) || []).filter((u) => u > cp.lastUid);
    }
    uids.sort((a, b) => a - b);
    // Sizes of all new messages in one command, so that an oversized one is never downloaded.
    const sizes = new Map<number, number>();
    if (uids.length > 0) {
      for await (const m of client.fetch(uids.join(','), { uid: true, size: true }, { uid: true })) sizes.set(m.uid, m.size ?? 0);
    }
    for (const uid of uids) {
      if (this.stopped) return;
      if (!sizes.has(uid)) continue; // expunged meanwhile
      await this.takeOne(client, uid, sizes.get(uid)!);
      if (!firstLook) await this.o.mailboxes.saveCheckpoint(this.o.mailbox.id, { uidValidity, lastUid: uid });
    }
    if (firstLook || cp.uidValidity !== uidValidity) {
      // uidNext as it was before this look: anything newer is taken by the next one.
      await this.o.mailboxes.saveCheckpoint(this.o.mailbox.id, { uidValidity, lastUid: Math.max(uidNext - 1, uids.at(-1) ?? 0) });
    } else {
      await this.o.mailboxes.noteError(this.o.mailbox.id, null);
    }
  }

  private async takeOne(client: ImapFlow, uid: number, size: number): Promise<void> {
    if (size > this.o.maxBytes) {
      this.log.error({ uid, size }, 'mail larger than MAIL_MAX_BYTES left in the mailbox unread');
      const head = await client.fetchOne(String(uid), { uid: true, envelope: true }, { uid: true });
      const env = head ? head.envelope : undefined;
      await this.o.tooLarge(this.o.mailbox, {
        uid, size, messageId: env?.messageId ?? null, from: env?.from?.[0]?.address ?? '', subject: env?.subject ?? '',
      });
      return;
    }
    const msg = await client.fetchOne(String(uid), { uid: true, source: true }, { uid: true });
    if (!msg || !msg.source) return;
    const result = await this.o.take(this.o.mailbox, msg.source);
    await client.messageFlagsAdd(String(uid), ['\\Seen'], { uid: true });
    this.log.debug({ uid, ...result }, 'mail settled');
  }

  private sleep(ms: number): Promise<void> {
    if (this.news || this.stopped) {
      this.news = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void { clearTimeout(timer); resolve(); }
      this.wake = () => { this.wake = null; done(); };
    });
  }
}
