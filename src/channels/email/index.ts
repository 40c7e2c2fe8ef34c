import type { MikroORM } from '@mikro-orm/postgresql';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../../config/index.ts';
import type { AttachmentStorage } from '../../core/ports.ts';
import { Mailboxes, type MailboxConfig } from '../../persistence/mailboxes.ts';
import { MailStore } from '../../persistence/mail-store.ts';
import { ReporterLinks } from '../../persistence/reporter-links.ts';
import { SecretBox } from '../../security/secret-box.ts';
import { Signer } from '../../security/signed-tokens.ts';
import type { SubmitResult } from '../../workers/intake-producer.ts';
import type { IntakeEventInput } from '../../core/intake-event.ts';
import { every } from '../../workers/every.ts';
import { Lease } from '../../workers/lease.ts';
import type { NotificationSenders } from '../../workers/notification-senders.ts';
import { baseAddress } from './automatic.ts';
import { takeMail, type InboundDeps } from './inbound.ts';
import { MailboxReader } from './imap-reader.ts';
import { SmtpSender } from './smtp-sender.ts';

export interface EmailChannelDeps {
  config: Config;
  orm: MikroORM;
  redis: Redis;
  logger: Logger;
  storage: AttachmentStorage;
  secret: string;
  senders: NotificationSenders;
  submit: (event: IntakeEventInput) => Promise<SubmitResult>;
  /** How often the list of mailboxes is read again (new ones start, removed ones stop). */
  refreshMs?: number;
  idleDelayMs?: number;
}

export interface EmailChannel { stop(): Promise<void> }

const LEASE_MS = 30_000;

/**
 * The email channel of a worker process: sends notifications by SMTP, and reads every enabled mailbox,
 * each in exactly one worker process at a time (a Redis lease), so that worker processes can scale out.
 */
export async function startEmailChannel(deps: EmailChannelDeps): Promise<EmailChannel> {
  const log = deps.logger.child({ channel: 'email' });
  const mailboxes = new Mailboxes(deps.orm, new SecretBox(deps.secret));
  const store = new MailStore(deps.orm);
  const signer = new Signer(deps.secret);
  await defineEnvironmentMailbox(deps.config, deps.orm, mailboxes, log);

  const sender = new SmtpSender({
    links: new ReporterLinks(deps.orm), mailboxes, store, storage: deps.storage, signer, publicUrl: deps.config.publicUrl, linkTtlMs: deps.config.ticketLinkTtlMs, logger: log,
  });
  deps.senders.register(sender);

  let own: { at: number; set: ReadonlySet<string> } = { at: 0, set: new Set() };
  const inbound: InboundDeps = {
    config: deps.config, store, storage: deps.storage, signer, logger: log, submit: deps.submit,
    ownAddresses: async () => {
      if (Date.now() - own.at > 30_000) own = { at: Date.now(), set: new Set([...(await mailboxes.allAddresses())].map(baseAddress)) };
      return own.set;
    },
  };

  interface Running { reader: MailboxReader; lease: Lease; url: string; renewal: NodeJS.Timeout }
  const readers = new Map<string, Running>();
  const stopping = new Set<Promise<void>>();
  /** Stops a reader without making the caller wait for its last mails (they settle in the background). */
  const retire = (id: string, why: string) => {
    const r = readers.get(id);
    if (!r) return;
    readers.delete(id);
    clearInterval(r.renewal);
    log.info({ mailbox: id, why }, 'stopped reading a mailbox');
    const done = r.reader.stop().then(() => r.lease.release()).catch(() => undefined).finally(() => stopping.delete(done));
    stopping.add(done);
  };
  const refresh = async () => {
    const wanted = await mailboxes.enabled();
    for (const [id, r] of readers) {
      const still = wanted.find((m) => m.id === id);
      if (!still) retire(id, 'removed or disabled');
      else if (still.imapUrl !== r.url) retire(id, 'settings changed');
    }
    for (const m of wanted) {
      if (readers.has(m.id) || stopped) continue;
      const lease = new Lease(deps.redis, `${deps.config.queuePrefix}:mailbox-reader:${m.id}`, LEASE_MS);
      if (!(await lease.acquire())) continue;
      // Each reader renews its own lease; one that cannot (Redis away, or the lease taken over) stops, so
      // that two processes never read one mailbox for long.
      const renewal = setInterval(() => {
        void lease.renew().then((held) => { if (!held) retire(m.id, 'lease lost'); }, () => retire(m.id, 'lease could not be renewed'));
      }, LEASE_MS / 3);
      renewal.unref();
      readers.set(m.id, { reader: startReader(m), lease, url: m.imapUrl, renewal });
    }
  };
  const startReader = (m: MailboxConfig) => {
    const reader = new MailboxReader({
      mailbox: m, mailboxes, logger: log, pollMs: deps.config.mail.pollMs, maxBytes: deps.config.mail.maxBytes, concurrency: deps.config.mail.concurrency,
      idleDelayMs: deps.idleDelayMs, take: (box, raw) => takeMail(inbound, box, raw),
      tooLarge: (box, mail) => store.record({
        organizationId: box.organizationId, mailboxId: box.id, messageIdHeader: mail.messageId ?? `<uid-${mail.uid}-${box.id}@too-large>`,
        fromAddress: mail.from.toLowerCase(), subject: mail.subject, status: 'failed',
        reason: `${mail.size} bytes, more than MAIL_MAX_BYTES (${deps.config.mail.maxBytes}); left unread in the mailbox (UID ${mail.uid})`,
      }),
    });
    reader.start();
    return reader;
  };
  let stopped = false;
  const schedule = every(Math.min(deps.refreshMs ?? 10_000, LEASE_MS / 3), refresh, log, 'read the mailbox list');

  return {
    async stop() {
      stopped = true;
      await schedule.stop();
      for (const id of [...readers.keys()]) retire(id, 'shutting down');
      await Promise.all([...stopping]);
      sender.close();
    },
  };
}

async function defineEnvironmentMailbox(config: Config, orm: MikroORM, mailboxes: Mailboxes, log: Logger): Promise<void> {
  const m = config.mail;
  if (!m.imapUrl || !m.smtpUrl || !m.address || !m.organization) return;
  const org = await orm.em.fork().getConnection().execute<Array<{ id: string }>>('SELECT id FROM organizations WHERE slug = ?', [m.organization]);
  if (!org[0]) throw new Error(`MAIL_ORGANIZATION is "${m.organization}", but no organization has that slug: create it (npm run cli -- org create) or fix the variable.`);
  await mailboxes.upsertFromEnvironment({ organizationId: org[0].id, address: m.address, imapUrl: m.imapUrl, smtpUrl: m.smtpUrl, plusAddressing: m.plusAddressing });
  log.info({ address: m.address }, 'mailbox defined by the environment');
}
