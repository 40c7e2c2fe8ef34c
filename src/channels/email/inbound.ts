import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Config } from '../../config/index.ts';
import { intakeEventSchema, type IntakeEventInput, type StoredFile } from '../../core/intake-event.ts';
import type { AttachmentStorage } from '../../core/ports.ts';
import type { MailboxConfig } from '../../persistence/mailboxes.ts';
import type { InboundStatus, MailStore } from '../../persistence/mail-store.ts';
import type { Signer } from '../../security/signed-tokens.ts';
import type { SubmitResult } from '../../workers/intake-producer.ts';
import { baseAddress, classifyMail } from './automatic.ts';
import { readMail, type ReadMail } from './parse.ts';
import { ticketFromAddresses } from './reply-address.ts';
import { trimQuotedReply } from './reply-trim.ts';
import { guessLocale } from './templates.ts';
import { isPermanentDatabaseError } from '../../workers/retry-policy.ts';
import { cleanSubject, threadMail, type ThreadDecision } from './threading.ts';
import { cutText } from '../../core/text.ts';

export interface InboundDeps {
  config: Config;
  store: MailStore;
  storage: AttachmentStorage;
  signer: Signer;
  logger: Logger;
  submit: (event: IntakeEventInput) => Promise<SubmitResult>;
  /** Addresses of all our mailboxes, lower case, without +tags. */
  ownAddresses: () => Promise<ReadonlySet<string>>;
}

export interface TakeOptions {
  /** An admin released this mail: the per-sender limit that held it does not apply again. */
  ignoreSenderLimit?: boolean;
}

export interface TakeResult { status: InboundStatus; messageId: string; ticketNumber?: number; duplicate?: boolean }

/** The intake job has not committed yet (queue or database slow or down): take the mail again later. */
export class MailNotTakenYet extends Error {}

const MAX_TEXT = 100_000;
const MAX_HTML = 2_000_000;

/**
 * Takes one mail from a mailbox: parses it, drops what no person wrote (recording why), holds floods,
 * threads it to its ticket and hands it to intake, waiting for the commit. Returns once the mail is settled;
 * throws `MailNotTakenYet` (or a connection error) when it must be taken again.
 */
export async function takeMail(deps: InboundDeps, mailbox: MailboxConfig, raw: Buffer, opts: TakeOptions = {}): Promise<TakeResult> {
  const org = mailbox.organizationId;
  let mail: ReadMail;
  try {
    mail = await readMail(raw);
  } catch (err) {
    const messageId = `<${createHash('sha256').update(raw).digest('hex').slice(0, 40)}@unparsable>`;
    await deps.store.record({
      organizationId: org, mailboxId: mailbox.id, messageIdHeader: messageId, fromAddress: '', subject: '',
      status: 'failed', reason: `could not parse: ${(err as Error).message}`, rawStorageKey: await keepRaw(deps, raw),
    });
    return { status: 'failed', messageId };
  }
  const base = { organizationId: org, mailboxId: mailbox.id, messageIdHeader: mail.messageId, fromAddress: mail.from.address, subject: mail.subject };
  try {
    return await settle(deps, mailbox, raw, mail, base, opts);
  } catch (err) {
    // Data the database refuses would be refused on every try: keep the mail as failed instead of retrying forever.
    if (!isPermanentDatabaseError(err)) throw err;
    await deps.store.record({ ...base, status: 'failed', reason: `could not be stored: ${(err as Error).message}`, rawStorageKey: await keepRaw(deps, raw) });
    return { status: 'failed', messageId: mail.messageId };
  }
}

type LogBase = { organizationId: string; mailboxId: string; messageIdHeader: string; fromAddress: string; subject: string };

async function settle(deps: InboundDeps, mailbox: MailboxConfig, raw: Buffer, mail: ReadMail, base: LogBase, opts: TakeOptions): Promise<TakeResult> {
  const org = mailbox.organizationId;
  const facts = await deps.store.senderFacts(org, mail.messageId, mail.from.address);
  if (facts.taken) return { status: facts.taken, messageId: mail.messageId, duplicate: true };
  if (facts.committed) {
    // Intake committed it, but the log was not written (a crash, or a commit slower than the wait).
    const status: InboundStatus = facts.committed.openedTicket ? 'ticket' : 'message';
    await deps.store.recordTaken({ ...base, status, threadRule: facts.committed.threadRule, ticketId: facts.committed.ticketId });
    return { status, messageId: mail.messageId };
  }

  const own = await deps.ownAddresses();
  const kind = classifyMail({ headers: mail.headers, from: mail.from.address, contentType: mail.contentType, deliveryStatus: mail.deliveryStatus, ownAddresses: own });
  if (kind.kind === 'bounce') {
    // Only addresses we sent the bounced mail to: the report must quote our Message-ID (<n.<notification>@…>).
    const ours = [...new Set([...raw.toString('latin1').matchAll(/<n\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})@/gi)].map((m) => m[1]!.toLowerCase()))];
    const sentTo = await deps.store.sentTo(org, ours.slice(0, 20));
    const bounced = kind.failedRecipients.length ? sentTo.filter((a) => kind.failedRecipients.includes(a)) : sentTo;
    for (const address of bounced) await deps.store.markBounced(org, address, `bounced: ${kind.reason}`);
    const reason = `${kind.reason}${bounced.length ? `; undeliverable: ${bounced.join(', ')}` : '; names no mail of ours, no address marked'}`;
    await deps.store.record({ ...base, status: 'bounce', reason });
    return { status: 'bounce', messageId: mail.messageId };
  }
  if (kind.kind === 'automatic') {
    await deps.store.record({ ...base, status: 'automatic', reason: kind.reason });
    return { status: 'automatic', messageId: mail.messageId };
  }
  if (!opts.ignoreSenderLimit && facts.recent >= deps.config.mail.senderLimitPerMinute) {
    await deps.store.record({
      ...base, status: 'held', rawStorageKey: await keepRaw(deps, raw),
      reason: `more than ${deps.config.mail.senderLimitPerMinute} mails a minute from this address`,
    });
    return { status: 'held', messageId: mail.messageId };
  }

  const thread = await threadMail({
    referenced: mail.referenced,
    replyAddressTicket: mailbox.plusAddressing ? ticketFromAddresses(deps.signer, org, mail.recipients) : null,
    subject: mail.subject,
    reopenWindowMs: deps.config.mail.reopenDays * 24 * 3600 * 1000,
    now: new Date(),
  }, {
    byMessageIds: (ids) => deps.store.ticketByMessageIds(org, ids),
    byNumber: (n) => deps.store.ticketByNumber(org, n),
    // A From that the receiving server found forged (DMARC fail) is nobody we know.
    senderReporterId: async () => (dmarcFailed(mail) ? null : facts.reporterId),
  });

  const { files, notes } = await storeFiles(deps, mail);
  const body = thread.ticketNumber !== undefined ? trimQuotedReply(mail.text) : mail.text;
  const text = [body.slice(0, MAX_TEXT), ...notes].filter(Boolean).join('\n\n');
  const event: IntakeEventInput = {
    organizationId: org,
    channel: 'email',
    externalId: mail.messageId,
    sender: {
      kind: 'email', address: mail.from.address, name: cutText(mail.from.name, 200) || undefined,
      locale: guessLocale(mail.text, mail.contentLanguage),
    },
    ticketNumber: thread.ticketNumber,
    subject: thread.ticketNumber === undefined ? (cutText(cleanSubject(mail.subject), 300) || undefined) : undefined,
    text,
    html: mail.html && mail.html.length <= MAX_HTML ? mail.html : undefined,
    fields: thread.followUpOf !== undefined ? { followUpOf: thread.followUpOf } : {},
    attachments: files,
    metadata: { email: emailMetadata(mail, mailbox, thread, notes) },
    receivedAt: (mail.date && !Number.isNaN(mail.date.getTime()) ? mail.date : new Date()).toISOString(),
  };
  // An event the schema refuses would be refused on every try: keep the mail as failed instead.
  const valid = intakeEventSchema.safeParse(event);
  if (!valid.success) {
    const reason = valid.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    await deps.store.record({ ...base, status: 'failed', reason: `not a valid request: ${reason}`, threadRule: thread.rule, rawStorageKey: await keepRaw(deps, raw) });
    return { status: 'failed', messageId: mail.messageId };
  }
  const result = await deps.submit(event);
  if (result.state === 'pending') throw new MailNotTakenYet(`mail ${mail.messageId} is queued but not committed yet`);
  if (result.state === 'failed') {
    await deps.store.record({ ...base, status: 'failed', reason: `intake refused it: ${result.reason}`, threadRule: thread.rule, rawStorageKey: await keepRaw(deps, raw) });
    return { status: 'failed', messageId: mail.messageId };
  }
  const { outcome } = result;
  const status: InboundStatus = outcome.openedTicket ? 'ticket' : 'message';
  await deps.store.recordTaken({ ...base, status, threadRule: thread.rule, reason: thread.note ?? null, ticketId: outcome.ticketId });
  deps.logger.info({ mailbox: mailbox.address, messageId: mail.messageId, ticket: outcome.ticketNumber, rule: thread.rule, status }, 'mail taken');
  return { status, messageId: mail.messageId, ticketNumber: outcome.ticketNumber };
}

function dmarcFailed(mail: ReadMail): boolean {
  return mail.headers.get('authentication-results').some((v) => /\bdmarc=fail\b/i.test(v));
}

async function storeFiles(deps: InboundDeps, mail: ReadMail): Promise<{ files: StoredFile[]; notes: string[] }> {
  const files: StoredFile[] = [];
  const notes: string[] = [];
  const limit = deps.config.attachmentMaxBytes;
  for (const f of mail.files.slice(0, 100)) {
    if (f.content.length > limit) {
      notes.push(`[The attachment "${f.filename}" (${megabytes(f.content.length)}) was left out: it is larger than the limit of ${megabytes(limit)}.]`);
      continue;
    }
    files.push(await deps.storage.put(Readable.from([f.content]), { filename: cutText(f.filename, 255), declaredType: f.contentType, maxBytes: limit }));
  }
  if (mail.files.length > 100) notes.push(`[${mail.files.length - 100} more attachments were left out: at most 100 are kept per mail.]`);
  return { files, notes };
}

function emailMetadata(mail: ReadMail, mailbox: MailboxConfig, thread: ThreadDecision, notes: string[]): Record<string, unknown> {
  return {
    messageId: mail.messageId,
    mailbox: mailbox.address,
    from: mail.from.address,
    to: mail.recipients.filter((r) => baseAddress(r) !== baseAddress(mailbox.address)).slice(0, 20),
    threadRule: thread.rule,
    ...(thread.note ? { threadNote: thread.note } : {}),
    ...(thread.followUpOf !== undefined ? { followUpOf: thread.followUpOf } : {}),
    ...(notes.length ? { leftOut: notes } : {}),
  };
}

async function keepRaw(deps: InboundDeps, raw: Buffer): Promise<string> {
  const stored = await deps.storage.put(Readable.from([raw]), { filename: 'message.eml', declaredType: 'message/rfc822', maxBytes: Number.MAX_SAFE_INTEGER });
  return stored.storageKey;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
