import type { MikroORM } from '@mikro-orm/postgresql';
import { v7 as uuidv7 } from 'uuid';
import { DomainError } from '../core/errors.ts';
import type { IntakeEvent, IntakeOutcome } from '../core/intake-event.ts';
import type { Actor, IntakeContext, IntakeDecision, IntakeStore } from '../core/ports.ts';
import { subjectFrom } from '../core/subject.ts';
import { normalizeAddress, type Role } from '../core/vocabulary.ts';
import { inTransaction, PG, pgCode, withSql, type Sql } from './sql.ts';
import { OpenTicketBatcher, type OpenTicketRow } from './open-ticket-batch.ts';
import { ObjectsStore } from './objects.ts';
import { SenderCache, type ResolvedSender } from './sender-cache.ts';
import { toView, type ViewRow } from './ticket-queries.ts';
import { insertAttachments, insertEvent, insertNotifications, notificationRows, notificationsJson, withIds } from './ticket-writes.ts';
import { ticketNumberSequence } from './ticket-numbers.ts';
import { TICKET_STATE_COLUMNS, toTicketState, type TicketStateRow } from './ticket-rows.ts';

/**
 * The intake transaction in SQL. A new ticket takes two statements: the reporter (an idempotent upsert) and
 * one statement that writes receipt, ticket (numbered from the organization's sequence), message,
 * attachments, audit event and notifications together, or nothing when the receipt already exists.
 */
export class SqlIntakeStore implements IntakeStore {
  private readonly senders = new SenderCache();
  private readonly batcher: OpenTicketBatcher;
  private readonly objects: ObjectsStore;

  constructor(private readonly orm: MikroORM) {
    this.batcher = new OpenTicketBatcher(orm);
    this.objects = new ObjectsStore(orm);
  }

  /**
   * The sender's reporter and author, from the cache or the database. Inside a transaction the caller
   * remembers the result itself after the commit, since a reporter made there is not visible before.
   */
  private async sender(sql: Sql, event: IntakeEvent, remember = true): Promise<ResolvedSender & { cacheKey: string }> {
    const cacheKey = senderKey(event);
    const cached = this.senders.get(cacheKey);
    if (cached) return { ...cached, cacheKey };
    const resolved = await resolveSender(sql, event);
    if (remember) this.senders.set(cacheKey, resolved);
    return { ...resolved, cacheKey };
  }

  findOutcome(organizationId: string, channel: string, externalId: string): Promise<IntakeOutcome | null> {
    return withSql(this.orm, (sql) => findOutcome(sql, organizationId, channel, externalId));
  }

  async write(event: IntakeEvent, decide: (ctx: IntakeContext) => IntakeDecision): Promise<IntakeOutcome> {
    return event.ticketNumber === undefined ? this.openTicket(event, decide) : this.addMessage(event, decide);
  }

  private async openTicket(event: IntakeEvent, decide: (ctx: IntakeContext) => IntakeDecision): Promise<IntakeOutcome> {
    // A known sender costs no connection at all.
    const cacheKey = senderKey(event);
    const cached = this.senders.get(cacheKey);
    const { reporterId, author } = cached ?? (await withSql(this.orm, (sql) => this.sender(sql, event)));
    const decision = decide({ reporterId, ticket: null, author });
    // A ticket about an object gets the object's request template where it says nothing itself.
    const fields = await this.withObjectTemplate(event);
    const messageId = uuidv7();
    const notifications = withIds(aboutMessage(decision.notifications, messageId));
    const row: OpenTicketRow = {
      receipt_id: uuidv7(), organization_id: event.organizationId, channel: event.channel, external_id: event.externalId,
      request_hash: event.requestHash ?? null, ticket_id: uuidv7(), message_id: messageId,
      seq: ticketNumberSequence(event.organizationId), subject: subjectFrom(event.subject, event.text), body: event.text,
      status: decision.status, priority: fields.priority ?? 'normal', deadline: fields.deadline ?? null,
      category_id: fields.categoryId ?? null, service_id: fields.serviceId ?? null, object_id: fields.objectId ?? null,
      assignee_id: fields.assigneeId ?? null,
      reporter_id: reporterId, author_user_id: author?.userId ?? null, author_reporter_id: author ? null : reporterId,
      visibility: event.visibility, body_html: event.html ?? null, metadata: event.metadata,
      follow_up_of: event.fields.followUpOf ?? null,
      attachments: event.attachments.map((a) => ({ id: uuidv7(), ...a })),
      changes: creationChanges(fields, decision),
      notifications: notificationRows(notifications),
    };
    let inserted: ViewRow | null;
    try {
      inserted = await this.batcher.open(row);
    } catch (err) {
      this.senders.delete(cacheKey);
      throw cached ? staleSender(err) : err;
    }
    if (!inserted) return withSql(this.orm, (sql) => duplicateOrMissingOrganization(sql, event));
    return {
      ticketId: row.ticket_id,
      ticketNumber: inserted.number as number,
      messageId: row.message_id,
      created: true,
      openedTicket: true,
      requestHash: event.requestHash ?? null,
      notificationIds: notifications.map((n) => n.id),
      // The ticket as the API shows it, so that the request waiting for this commit needs no query.
      view: toView(inserted),
    };
  }

  private async withObjectTemplate(event: IntakeEvent): Promise<IntakeEvent['fields'] & { assigneeId?: string }> {
    const f = event.fields;
    if (!f.objectId) return f;
    const t = await this.objects.template(event.organizationId, f.objectId);
    if (!t) return f;
    return {
      ...f,
      categoryId: f.categoryId ?? t.categoryId ?? undefined,
      serviceId: f.serviceId ?? t.serviceId ?? undefined,
      priority: f.priority ?? t.priority ?? undefined,
      ...(t.assigneeId ? { assigneeId: t.assigneeId } : {}),
    };
  }

  private async addMessage(event: IntakeEvent, decide: (ctx: IntakeContext) => IntakeDecision): Promise<IntakeOutcome> {
    const cacheKey = senderKey(event);
    const cached = this.senders.get(cacheKey) !== undefined;
    try {
      const { outcome, sender } = await this.writeMessage(event, decide);
      if (sender) this.senders.set(cacheKey, sender);
      return outcome;
    } catch (err) {
      this.senders.delete(cacheKey);
      throw cached ? staleSender(err) : err;
    }
  }

  private writeMessage(event: IntakeEvent, decide: (ctx: IntakeContext) => IntakeDecision): Promise<{ outcome: IntakeOutcome; sender?: ResolvedSender }> {
    return inTransaction(this.orm, async (sql) => {
      const seen = await findOutcome(sql, event.organizationId, event.channel, event.externalId);
      if (seen) return { outcome: { ...seen, created: false, notificationIds: [] } };
      const { reporterId, author } = await this.sender(sql, event, false);
      const row = await sql.one<TicketStateRow>(
        `SELECT ${TICKET_STATE_COLUMNS} FROM tickets WHERE organization_id = $1 AND number = $2 FOR UPDATE`,
        [event.organizationId, event.ticketNumber],
      );
      if (!row) throw new DomainError('not_found', `Ticket #${event.ticketNumber} does not exist.`);
      const ticket = toTicketState(row);
      const decision = decide({ reporterId, ticket, author });
      const messageId = uuidv7();
      const notifications = withIds(aboutMessage(decision.notifications, messageId));
      const statusChange = decision.status !== ticket.status
        ? JSON.stringify({ status: { from: ticket.status, to: decision.status } })
        : null;
      await sql.rows(
        `WITH receipt AS (
           INSERT INTO intake_receipts (id, organization_id, channel, external_id, request_hash, ticket_id, message_id, opened_ticket)
           VALUES ($12, $1, $2, $3, $4, $5, $6, false)
           RETURNING ticket_id),
         message AS (
           INSERT INTO messages (id, organization_id, ticket_id, author_user_id, author_reporter_id, visibility, channel, body, body_html, metadata)
           SELECT $6, $1, $5, $7, $8, $9, $2, $10, $17, $18::jsonb FROM receipt
           RETURNING id),
         touched AS (
           UPDATE tickets SET status = $13, updated_at = now() WHERE id = $5 RETURNING id),
         files AS (${insertAttachments('$1', '$5', 'message', '$11')}),
         added AS (${insertEvent('$1', '$5', '$7', '$8', '$2', "'message_added'", '$16', 'receipt')}),
         audit AS (${insertEvent('$1', '$5', '$7', '$8', '$2', "'status_changed'", '$14', 'receipt WHERE $14::jsonb IS NOT NULL')}),
         notes AS (${insertNotifications('$1', '$5', '$15', 'receipt')})
         SELECT 1`,
        [
          event.organizationId, event.channel, event.externalId, event.requestHash ?? null, ticket.id, messageId,
          author?.userId ?? null, author ? null : reporterId, event.visibility, event.text, attachmentsJson(event),
          uuidv7(), decision.status, statusChange, notificationsJson(notifications),
          JSON.stringify({ messageId, visibility: event.visibility }), event.html ?? null, JSON.stringify(event.metadata),
        ],
      );
      const outcome: IntakeOutcome = {
        ticketId: ticket.id,
        ticketNumber: ticket.number,
        messageId,
        created: true,
        openedTicket: false,
        requestHash: event.requestHash ?? null,
        notificationIds: notifications.map((n) => n.id),
      };
      return { outcome, sender: { reporterId, author } };
    });
  }
}


/**
 * A write that used a cached reporter and hit a missing row (the reporter was merged into another one since):
 * worth another try with the cache entry gone, not a permanent refusal of the data.
 */
function staleSender(err: unknown): unknown {
  // A missing reporter row, or a ticket that now belongs to the reporter the cached one was merged into.
  const stale = pgCode(err) === PG.foreignKeyViolation || (err instanceof DomainError && err.kind === 'forbidden');
  if (!stale) return err;
  return new Error(`The sender's reporter may have changed while this was written (${(err as Error).message}); retrying.`);
}

/** Notifications name the message that caused them, so that a channel can quote it and send its files. */
function aboutMessage(plans: IntakeDecision['notifications'], messageId: string): IntakeDecision['notifications'] {
  return plans.map((p) => ({ ...p, payload: { ...p.payload, messageId } }));
}

function senderKey(event: IntakeEvent): string {
  return SenderCache.key(event.organizationId, event.sender.kind, normalizeAddress(event.sender.kind, event.sender.address), event.authorUserId);
}




async function findOutcome(sql: Sql, organizationId: string, channel: string, externalId: string): Promise<IntakeOutcome | null> {
  const row = await sql.one<{ ticket_id: string; number: number; message_id: string; request_hash: string | null; opened_ticket: boolean }>(
    `SELECT r.ticket_id, t.number, r.message_id, r.request_hash, r.opened_ticket
       FROM intake_receipts r JOIN tickets t ON t.id = r.ticket_id
      WHERE r.organization_id = $1 AND r.channel = $2 AND r.external_id = $3`,
    [organizationId, channel, externalId],
  );
  if (!row) return null;
  return {
    ticketId: row.ticket_id,
    ticketNumber: row.number,
    messageId: row.message_id,
    created: false,
    openedTicket: row.opened_ticket,
    requestHash: row.request_hash,
    notificationIds: [],
  };
}

async function duplicateOrMissingOrganization(sql: Sql, event: IntakeEvent): Promise<IntakeOutcome> {
  const seen = await findOutcome(sql, event.organizationId, event.channel, event.externalId);
  if (seen) return seen;
  const org = await sql.one('SELECT 1 FROM organizations WHERE id = $1', [event.organizationId]);
  if (!org) throw new DomainError('not_found', `Organization ${event.organizationId} does not exist.`);
  // A concurrent delivery of the same event won the receipt but has not committed yet: retry later.
  throw new Error(`Intake event ${event.channel}/${event.externalId} is being written by another worker; retrying.`);
}

/**
 * Finds the reporter behind the sender's identity, creating reporter and identity on first contact, and the
 * authenticated author, if any. One statement; concurrent first contacts of one person converge on one row.
 */
async function resolveSender(sql: Sql, event: IntakeEvent): Promise<{ reporterId: string; author: Actor | null }> {
  const address = normalizeAddress(event.sender.kind, event.sender.address);
  for (let attempt = 0; attempt < 3; attempt++) {
    const row = await sql.one<{ reporter_id: string | null; author_role: Role | null }>(
      `WITH known AS (
         SELECT reporter_id FROM reporter_identities WHERE organization_id = $1 AND kind = $2 AND address = $3),
       -- A user of the organization who writes through the API, or by mail from their account's address, is
       -- the reporter already linked to their account, not a new one.
       account AS (
         SELECT coalesce($7::uuid, (SELECT u.id FROM users u WHERE u.organization_id = $1 AND u.email = $3::text AND $2::text = 'email')) AS user_id),
       linked AS (
         SELECT r.id AS reporter_id FROM reporters r, account a WHERE r.organization_id = $1 AND r.user_id = a.user_id),
       identity AS (
         INSERT INTO reporter_identities (id, organization_id, reporter_id, kind, address)
         SELECT $4, $1, coalesce((SELECT reporter_id FROM linked), $5), $2, $3 WHERE NOT EXISTS (SELECT 1 FROM known)
         ON CONFLICT (organization_id, kind, address) DO NOTHING
         RETURNING reporter_id),
       reporter AS (
         INSERT INTO reporters (id, organization_id, name, user_id, locale)
         SELECT $5, $1, $6, (SELECT user_id FROM account), $8 FROM identity WHERE identity.reporter_id = $5
         RETURNING id)
       SELECT (SELECT reporter_id FROM known UNION ALL SELECT reporter_id FROM identity LIMIT 1) AS reporter_id,
              (SELECT role FROM users WHERE id = $9 AND organization_id = $1) AS author_role`,
      [
        event.organizationId, event.sender.kind, address, uuidv7(), uuidv7(), event.sender.name ?? '',
        event.sender.kind === 'api' ? (event.authorUserId ?? null) : null, event.sender.locale ?? null,
        event.authorUserId ?? null,
      ],
    );
    if (event.authorUserId && !row?.author_role) {
      throw new DomainError('forbidden', 'The author is not a user of this organization.');
    }
    if (row?.reporter_id) {
      const author = event.authorUserId && row.author_role
        ? { userId: event.authorUserId, organizationId: event.organizationId, role: row.author_role }
        : null;
      return { reporterId: row.reporter_id, author };
    }
    // Lost a race with a concurrent first contact that committed after this statement's snapshot.
  }
  throw new Error(`Could not resolve the reporter for ${event.sender.kind} ${address}; retrying.`);
}

function attachmentsJson(event: IntakeEvent): string {
  return JSON.stringify(event.attachments.map((a) => ({ id: uuidv7(), ...a })));
}

function creationChanges(fields: IntakeEvent['fields'] & { assigneeId?: string }, decision: IntakeDecision): Record<string, { from: null; to: unknown }> {
  const changes: Record<string, { from: null; to: unknown }> = {
    status: { from: null, to: decision.status },
    priority: { from: null, to: fields.priority ?? 'normal' },
  };
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined && key !== 'priority') changes[key] = { from: null, to: value };
  }
  return changes;
}
