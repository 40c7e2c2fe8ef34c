import type { Readable } from 'node:stream';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from 'pino';
import type { AttachmentStorage, NotificationSender, OutgoingNotification } from '../../core/ports.ts';
import { DeliveryError } from '../../core/ports.ts';
import type { MailboxConfig, Mailboxes } from '../../persistence/mailboxes.ts';
import type { MailStore } from '../../persistence/mail-store.ts';
import { ticketLink, type Signer } from '../../security/signed-tokens.ts';
import { replyAddress } from './reply-address.ts';
import { agentFallback, defaultTemplate, isMailKind, mailLocale, render, statusName, telegramOffer } from './templates.ts';
import type { ReporterLinks } from '../../persistence/reporter-links.ts';

export interface SmtpSenderDeps {
  links: ReporterLinks;
  mailboxes: Mailboxes;
  store: MailStore;
  storage: AttachmentStorage;
  signer: Signer;
  publicUrl: string;
  linkTtlMs: number;
  logger: Logger;
}

const CACHE_MS = 10_000;

/** Notifications never automatic in the RFC 3834 sense: a person wrote them. */
const WRITTEN_BY_A_PERSON = new Set(['agent_replied']);

/**
 * Sends notifications by mail from the mailbox the ticket came in at: subject tagged `[#1042]`, threaded
 * with In-Reply-To/References, our own Message-ID (kept, so that the reply finds the ticket), and the
 * attachments of the message it reports. A recipient the server refuses for good (5xx) is `undeliverable`.
 */
export class SmtpSender implements NotificationSender {
  readonly kind = 'email' as const;
  private readonly transports = new Map<string, { url: string; transport: Transporter }>();
  private readonly cache = new Map<string, { at: number; value: unknown }>();

  constructor(private readonly deps: SmtpSenderDeps) {}

  async send(n: OutgoingNotification, address: string): Promise<{ externalId?: string }> {
    if (!isMailKind(n.kind)) throw new DeliveryError(`no mail text for notifications of kind ${n.kind}`, 'unavailable');
    const messageRef = typeof n.payload.messageId === 'string' ? n.payload.messageId : null;
    const ctx = await this.deps.store.outgoingContext(n.organizationId, n.ticketNumber, messageRef);
    const mailbox = ctx.mailboxId ? await this.cached(`m:${ctx.mailboxId}`, () => this.deps.mailboxes.byId(ctx.mailboxId!)) : null;
    if (!mailbox) throw new DeliveryError('the organization has no mailbox to send from', 'unavailable');
    const locale = mailLocale(n.locale);
    const custom = await this.cached(`t:${n.organizationId}:${n.kind}:${locale}`, () => this.deps.store.template(n.organizationId, n.kind, locale));
    const template = custom ?? defaultTemplate(n.kind, locale);
    const number = ctx.ticket?.number ?? n.ticketNumber ?? 0;
    const portal = `${this.deps.publicUrl}/portal?org=${encodeURIComponent(ctx.organizationSlug)}`;
    // Only the ticket's reporter gets the link that opens it; anyone else (a follower) signs in to see theirs.
    const link = typeof n.payload.url === 'string'
      ? n.payload.url
      : ctx.ticket && n.recipientReporterId === ctx.ticket.reporterId
      ? ticketLink(this.deps.signer, this.deps.publicUrl, { organizationId: n.organizationId, number, reporterId: ctx.ticket.reporterId }, new Date(Date.now() + this.deps.linkTtlMs))
      : portal;
    // Where the organization has a Telegram bot, a confirmation offers it, with a one-time code that links
    // the chat to this reporter.
    const code = n.kind === 'ticket_received' && ctx.telegramBot
      ? await this.deps.links.createFor(n.organizationId, { kind: 'email', address }, this.deps.linkTtlMs)
      : null;
    const text = render(template, {
      portal,
      telegram: telegramOffer(locale, code ? `https://t.me/${ctx.telegramBot}?start=link_${code}` : null),
      number: String(number),
      subject: ctx.ticket?.subject ?? String(n.payload.subject ?? ''),
      link,
      text: ctx.body ?? String(n.payload.text ?? ''),
      agent: ctx.author ?? agentFallback(locale),
      status: statusName(String(n.payload.to ?? ''), locale),
      organization: ctx.organizationName,
    });
    const domain = mailbox.address.slice(mailbox.address.lastIndexOf('@') + 1);
    // Derived from the notification, so a retried send carries the same Message-ID.
    const messageId = `<n.${n.id}@${domain}>`;
    if (ctx.ticket) await this.deps.store.rememberThreadId(n.organizationId, messageId, ctx.ticket.id, 'out');
    const references = ctx.threadIds.filter((id) => id !== messageId).slice(-20);
    const automatic = !WRITTEN_BY_A_PERSON.has(n.kind);
    const fromName = n.kind === 'agent_replied' && ctx.author ? `${ctx.author} (${ctx.organizationName})` : ctx.organizationName;
    // An answer carries its files; a confirmation never sends the reporter's own files back.
    const attach = n.kind === 'agent_replied' ? ctx.files : [];
    const files: Array<{ filename: string; contentType: string; content: Readable }> = [];
    try {
      for (const f of attach) files.push({ filename: f.filename, contentType: f.contentType, content: await this.deps.storage.open(f.storageKey) });
    } catch (err) {
      for (const f of files) f.content.destroy();
      throw err;
    }
    try {
      const info = await this.transport(mailbox).sendMail({
        from: { name: fromName, address: mailbox.address },
        to: address,
        replyTo: mailbox.plusAddressing && ctx.ticket ? replyAddress(this.deps.signer, mailbox.address, n.organizationId, number) : undefined,
        subject: text.subject,
        text: text.body,
        messageId,
        inReplyTo: ctx.lastInboundId ?? references.at(-1),
        references: references.length ? references : undefined,
        headers: {
          ...(automatic ? { 'Auto-Submitted': 'auto-replied' } : {}),
          'X-Auto-Response-Suppress': 'All',
        },
        attachments: files,
      });
      return { externalId: info.messageId ?? messageId };
    } catch (err) {
      for (const f of files) f.content.destroy();
      throw classify(err, address);
    }
  }

  /**
   * Mailbox settings and templates change rarely and are read for every mail: kept for CACHE_MS, so a change
   * made with the CLI applies within that time.
   */
  private async cached<T>(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.value as T;
    const value = await load();
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(key, { at: Date.now(), value });
    return value;
  }

  private transport(mailbox: MailboxConfig): Transporter {
    const cached = this.transports.get(mailbox.id);
    if (cached && cached.url === mailbox.smtpUrl) return cached.transport;
    cached?.transport.close();
    const transport = nodemailer.createTransport(mailbox.smtpUrl, { pool: true, maxConnections: 3 } as never);
    this.transports.set(mailbox.id, { url: mailbox.smtpUrl, transport });
    return transport;
  }

  close(): void {
    for (const { transport } of this.transports.values()) transport.close();
    this.transports.clear();
  }
}

/** A 5xx answer to the recipient or the message means this address will not take mail; the rest may pass. */
function classify(err: unknown, address: string): Error {
  const e = err as { responseCode?: number; command?: string; message?: string; response?: string };
  const code = e.responseCode ?? 0;
  if (code >= 500 && code < 600 && /RCPT|DATA|MAIL/i.test(e.command ?? '')) {
    return new DeliveryError(`${address} refused by the mail server: ${e.response ?? e.message}`, 'undeliverable');
  }
  return new DeliveryError(`sending mail to ${address} failed: ${e.response ?? e.message ?? String(err)}`, 'transient');
}
