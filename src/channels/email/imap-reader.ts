import { ImapFlow } from 'imapflow';
import { imapConnection } from './imap-url.ts';
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
  /** Mails taken at once (mails of one sender always one after another). */
  concurrency?: number;
}

const BACKOFF_MS = [1000, 2000, 5000, 10_000, 30_000, 60_000];
const CHECKPOINT_EVERY_MS = 1000;
/** UIDs looked at per round of commands. */
const CHUNK = 200;
/** Raw mail held in memory at once by one reader (one bigger mail is still taken, alone). */
const IN_FLIGHT_BYTES = 64 * 1024 * 1024;

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

  private readonly concurrency: number;

  constructor(private readonly o: ReaderOptions) {
    this.concurrency = Math.max(1, o.concurrency ?? 8);
  }

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
    const client = new ImapFlow({
      ...imapConnection(this.o.mailbox.imapUrl),
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
    let syncing: Promise<void> | null = null;
    try {
      await client.connect();
      await client.mailboxOpen('INBOX');
      this.log.info({ idle: client.capabilities.has('IDLE') }, 'reading mailbox');
      let first = true;
      while (!this.stopped) {
        this.news = false;
        syncing = this.sync(client);
        await Promise.race([syncing, closedPromise]);
        syncing = null;
        // Backoff starts over only once a whole look succeeded, not on every login that then fails.
        if (first) connected();
        first = false;
        if (this.stopped) break;
        await Promise.race([this.sleep(this.o.pollMs), closedPromise]);
      }
    } finally {
      this.client = null;
      if (client.usable) await client.logout().catch(() => client.close());
      else client.close();
      // Mails still being taken finish (or fail on the closed connection) before another session starts, so
      // two looks never take the same mails at once and a late checkpoint cannot move it back.
      await syncing?.catch(() => undefined);
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
      // Only mail that arrived since the last look (a day of margin, as IMAP dates are days) can be new;
      // older read mail is history that the first look left alone, and must not turn into tickets now.
      this.log.warn({ was: cp.uidValidity, now: uidValidity }, 'UIDVALIDITY changed; reading the mailbox again since the last look');
      const since = cp.lastSyncAt ? new Date(cp.lastSyncAt.getTime() - 24 * 3600 * 1000) : null;
      uids = (await client.search(since ? { since } : { seen: false }, { uid: true })) || [];
    } else {
      uids = ((await client.search({ uid: `${cp.lastUid + 1}:*` }, { uid: true })) || []).filter((u) => u > cp.lastUid);
    }
    uids.sort((a, b) => a - b);
    const saveUpTo = firstLook ? null : (uid: number) => this.o.mailboxes.saveCheckpoint(this.o.mailbox.id, { uidValidity, lastUid: uid });
    for (let i = 0; i < uids.length && !this.stopped; i += CHUNK) await this.takeMany(client, uids.slice(i, i + CHUNK), saveUpTo);
    if (this.stopped) return;
    if (firstLook || cp.uidValidity !== uidValidity) {
      // uidNext as it was before this look: anything newer is taken by the next one.
      await this.o.mailboxes.saveCheckpoint(this.o.mailbox.id, { uidValidity, lastUid: Math.max(uidNext - 1, uids.at(-1) ?? 0) });
    } else {
      await this.o.mailboxes.noteError(this.o.mailbox.id, null);
    }
  }

  /**
   * Takes a run of messages several at a time (mails of one sender one after another, so that a reply in the
   * backlog finds the ticket its predecessor opened), and moves the checkpoint over each unbroken run of
   * settled UIDs. Sizes and senders come in one command, so that an oversized mail is never downloaded.
   */
  private async takeMany(client: ImapFlow, uids: number[], saveUpTo: ((uid: number) => Promise<void>) | null): Promise<void> {
    const meta = new Map<number, { size: number; from: string; messageId: string | null; subject: string }>();
    for await (const m of client.fetch(uids.join(','), { uid: true, size: true, envelope: true }, { uid: true })) {
      meta.set(m.uid, { size: m.size ?? 0, from: m.envelope?.from?.[0]?.address?.toLowerCase() ?? '', messageId: m.envelope?.messageId ?? null, subject: m.envelope?.subject ?? '' });
    }
    const settled = new Set<number>();
    let next = 0;
    // The checkpoint is saved at most every CHECKPOINT_EVERY_MS and at the end of the run: after a crash the
    // Message-ID check skips the few mails taken since, so writing it per mail would buy nothing.
    let saving = Promise.resolve();
    let savedAt = 0;
    let saved = 0;
    const save = () => {
      if (!saveUpTo || next <= saved) return;
      saved = next;
      savedAt = Date.now();
      const uid = uids[next - 1]!;
      saving = saving.then(() => saveUpTo(uid)).catch((err) => { failure ??= err; });
    };
    const advance = () => {
      while (next < uids.length && settled.has(uids[next]!)) next++;
      if (Date.now() - savedAt >= CHECKPOINT_EVERY_MS) save();
    };
    const bySender = new Map<string, Promise<void>>();
    const inFlight = new Set<Promise<void>>();
    let bytes = 0;
    let failure: unknown = null;
    for (const uid of uids) {
      if (this.stopped || failure) break;
      const info = meta.get(uid);
      if (!info) {
        // Expunged meanwhile: nothing to take.
        settled.add(uid);
        advance();
        continue;
      }
      const size = info.size <= this.o.maxBytes ? info.size : 0;
      while (inFlight.size > 0 && (inFlight.size >= this.concurrency || bytes + size > IN_FLIGHT_BYTES)) await Promise.race(inFlight);
      if (this.stopped || failure) break;
      const fetched = info.size <= this.o.maxBytes ? await client.fetchOne(String(uid), { uid: true, source: true }, { uid: true }) : false;
      const source = fetched ? fetched.source : undefined;
      bytes += size;
      const job: Promise<void> = (bySender.get(info.from) ?? Promise.resolve())
        .then(async () => {
          if (failure || this.stopped) return;
          if (info.size > this.o.maxBytes) {
            this.log.error({ uid, size: info.size }, 'mail larger than MAIL_MAX_BYTES left in the mailbox unread');
            await this.o.tooLarge(this.o.mailbox, { uid, ...info });
          } else if (source) {
            const result = await this.o.take(this.o.mailbox, source);
            await client.messageFlagsAdd(String(uid), ['\\Seen'], { uid: true });
            this.log.debug({ uid, ...result }, 'mail settled');
          }
          settled.add(uid);
          advance();
        })
        .catch((err) => { failure ??= err; })
        .finally(() => {
          bytes -= size;
          inFlight.delete(job);
        });
      bySender.set(info.from, job);
      inFlight.add(job);
    }
    await Promise.all(inFlight);
    save();
    await saving;
    if (failure) throw failure;
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
