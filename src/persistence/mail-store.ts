import type { MikroORM } from '@mikro-orm/postgresql';
import { v7 as uuidv7 } from 'uuid';
import { iso, withSql } from './sql.ts';

export type InboundStatus = 'ticket' | 'message' | 'automatic' | 'bounce' | 'held' | 'failed';

export interface InboundRecord {
  organizationId: string;
  mailboxId: string | null;
  messageIdHeader: string;
  fromAddress: string;
  subject: string;
  status: InboundStatus;
  reason?: string | null;
  threadRule?: string | null;
  ticketId?: string | null;
  rawStorageKey?: string | null;
}

export interface TicketForThreading { id: string; number: number; status: string; reporterId: string; closedAt: Date | null }

/** What a mail about a ticket needs to say and to thread: the ticket, its Message-IDs, the message it reports. */
export interface OutgoingMailContext {
  ticket: { id: string; number: number; subject: string; reporterId: string } | null;
  /** Message-IDs of the ticket's mails, oldest first. */
  threadIds: string[];
  /** The newest Message-ID that came from the reporter, which a reply answers. */
  lastInboundId: string | null;
  author: string | null;
  /** The full text of the message the notification reports (payloads carry only a preview). */
  body: string | null;
  files: Array<{ filename: string; contentType: string; storageKey: string; size: number }>;
  organizationName: string;
  organizationSlug: string;
  /** The mailbox to answer from: the one the ticket's last mail came in at, else the organization's first. */
  mailboxId: string | null;
  /** The organization's Telegram bot, to offer following the ticket there. */
  telegramBot: string | null;
}

const TICKET_FOR_THREADING = `SELECT t.id, t.number, t.status, t.reporter_id,
       CASE WHEN t.status = 'closed' THEN coalesce(
         (SELECT max(e.created_at) FROM ticket_events e WHERE e.ticket_id = t.id AND e.changes->'status'->>'to' = 'closed'),
         t.updated_at) END AS closed_at
  FROM tickets t`;

/** The email channel's records: the log of mails taken, the Message-IDs of threads, templates. */
export class MailStore {
  constructor(private readonly orm: MikroORM) {}

  /** Records what became of a mail; a second record of the same Message-ID keeps the first. */
  async record(r: InboundRecord): Promise<void> {
    await withSql(this.orm, (sql) => sql.rows(
      `INSERT INTO inbound_mails (id, organization_id, mailbox_id, message_id_header, from_address, subject, status, reason,
                                  thread_rule, ticket_id, raw_storage_key)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (organization_id, message_id_header) DO NOTHING`,
      [uuidv7(), r.organizationId, r.mailboxId, storable(r.messageIdHeader).slice(0, 998), storable(r.fromAddress).slice(0, 320),
        storable(r.subject), r.status, r.reason == null ? null : storable(r.reason), r.threadRule ?? null, r.ticketId ?? null, r.rawStorageKey ?? null],
    ));
  }

  /**
   * What intake needs to know about a mail, in one round trip: whether this Message-ID was settled already,
   * whether intake committed it already (a crash or a slow queue between commit and this log), how many mails
   * the address sent in the last minute, and the reporter the address belongs to.
   */
  async senderFacts(organizationId: string, messageIdHeader: string, address: string): Promise<{
    taken: InboundStatus | null; recent: number; reporterId: string | null;
    committed: { ticketId: string; openedTicket: boolean; threadRule: string | null } | null;
  }> {
    const row = await withSql(this.orm, (sql) => sql.one<{
      taken: InboundStatus | null; recent: string; reporter_id: string | null;
      committed: { ticketId: string; openedTicket: boolean; threadRule: string | null } | null;
    }>(
      `SELECT (SELECT status FROM inbound_mails WHERE organization_id = $1 AND message_id_header = $2) AS taken,
              (SELECT count(*) FROM inbound_mails
                WHERE organization_id = $1 AND from_address = $3 AND created_at > now() - interval '1 minute'
                  AND status IN ('ticket', 'message', 'held')) AS recent,
              (SELECT reporter_id FROM reporter_identities WHERE organization_id = $1 AND kind = 'email' AND address = $3) AS reporter_id,
              (SELECT json_build_object('ticketId', r.ticket_id, 'openedTicket', r.opened_ticket, 'threadRule', m.metadata->'email'->>'threadRule')
                 FROM intake_receipts r LEFT JOIN messages m ON m.id = r.message_id
                WHERE r.organization_id = $1 AND r.channel = 'email' AND r.external_id = $2) AS committed`,
      [organizationId, storable(messageIdHeader), address.toLowerCase()]));
    return { taken: row?.taken ?? null, recent: Number(row?.recent ?? 0), reporterId: row?.reporter_id ?? null, committed: row?.committed ?? null };
  }

  /**
   * The addresses our mails named in a bounce were delivered to: only a bounce that quotes the Message-ID of
   * a mail we sent can mark an address, so a forged "bounce" cannot silence someone.
   */
  async sentTo(organizationId: string, notificationIds: readonly string[]): Promise<string[]> {
    if (notificationIds.length === 0) return [];
    const rows = await withSql(this.orm, (sql) => sql.rows<{ address: string }>(
      `SELECT DISTINCT delivered_address AS address FROM notifications
        WHERE organization_id = $1 AND id = ANY($2::uuid[]) AND delivered_kind = 'email' AND delivered_address IS NOT NULL`,
      [organizationId, notificationIds]));
    return rows.map((r) => r.address.toLowerCase());
  }

  /** Records a mail that became a ticket or a message, and remembers its Message-ID for the thread: one statement. */
  async recordTaken(r: InboundRecord & { ticketId: string }): Promise<void> {
    await withSql(this.orm, (sql) => sql.rows(
      `WITH thread AS (
         INSERT INTO mail_thread_ids (id, organization_id, message_id_header, ticket_id, direction) VALUES ($12, $2, $4, $10, 'in')
         ON CONFLICT (organization_id, message_id_header) DO NOTHING)
       INSERT INTO inbound_mails (id, organization_id, mailbox_id, message_id_header, from_address, subject, status, reason,
                                  thread_rule, ticket_id, raw_storage_key)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (organization_id, message_id_header) DO NOTHING`,
      [uuidv7(), r.organizationId, r.mailboxId, storable(r.messageIdHeader).slice(0, 998), storable(r.fromAddress).slice(0, 320),
        storable(r.subject), r.status, r.reason == null ? null : storable(r.reason), r.threadRule ?? null, r.ticketId, r.rawStorageKey ?? null, uuidv7()],
    ));
  }

  async log(organizationId: string, opts: { status?: string; limit: number; offset?: number }): Promise<Array<Record<string, unknown>>> {
    const rows = await withSql(this.orm, (sql) => sql.rows<Record<string, unknown>>(
      `SELECT count(*) OVER () AS total, m.id, m.created_at, m.status, m.from_address, m.subject, m.message_id_header, m.thread_rule, m.reason,
              t.number AS ticket, b.address AS mailbox, m.raw_storage_key
         FROM inbound_mails m LEFT JOIN tickets t ON t.id = m.ticket_id LEFT JOIN mailboxes b ON b.id = m.mailbox_id
        WHERE m.organization_id = $1 AND ($2::text IS NULL OR m.status = $2)
        ORDER BY m.created_at DESC, m.id DESC LIMIT $3 OFFSET $4`,
      [organizationId, opts.status ?? null, opts.limit, opts.offset ?? 0]));
    return rows.map((r) => ({ ...r, created_at: iso(r.created_at) }));
  }

  /**
   * Takes a held mail out of the log, so that it can be taken again; returns where it came from and its
   * source, or null when there is no such held mail in the organization.
   */
  async releaseHeld(organizationId: string, id: string): Promise<(InboundRecord & { rawStorageKey: string }) | null> {
    const row = await withSql(this.orm, (sql) => sql.one<{ mailbox_id: string | null; raw_storage_key: string | null; message_id_header: string; from_address: string; subject: string; reason: string | null }>(
      `DELETE FROM inbound_mails WHERE organization_id = $1 AND id = $2 AND status = 'held' AND raw_storage_key IS NOT NULL
       RETURNING mailbox_id, raw_storage_key, message_id_header, from_address, subject, reason`, [organizationId, id]));
    if (!row || !row.raw_storage_key) return null;
    return {
      organizationId, mailboxId: row.mailbox_id, messageIdHeader: row.message_id_header, fromAddress: row.from_address,
      subject: row.subject, status: 'held', reason: row.reason, rawStorageKey: row.raw_storage_key,
    };
  }

  /** Where the raw source of a kept mail (failed or held) is stored, within the organization. */
  async rawKey(organizationId: string, id: string): Promise<string | null> {
    const row = await withSql(this.orm, (sql) => sql.one<{ raw_storage_key: string | null }>(
      'SELECT raw_storage_key FROM inbound_mails WHERE organization_id = $1 AND id = $2', [organizationId, id]));
    return row?.raw_storage_key ?? null;
  }

  async rememberThreadId(organizationId: string, messageIdHeader: string, ticketId: string, direction: 'in' | 'out'): Promise<void> {
    await withSql(this.orm, (sql) => sql.rows(
      `INSERT INTO mail_thread_ids (id, organization_id, message_id_header, ticket_id, direction) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (organization_id, message_id_header) DO NOTHING`,
      [uuidv7(), organizationId, messageIdHeader.slice(0, 998), ticketId, direction]));
  }

  async ticketByMessageIds(organizationId: string, ids: readonly string[]): Promise<TicketForThreading | null> {
    const row = await withSql(this.orm, (sql) => sql.one<Record<string, unknown>>(
      `${TICKET_FOR_THREADING}
         JOIN mail_thread_ids i ON i.ticket_id = t.id
        WHERE i.organization_id = $1 AND i.message_id_header = ANY($2::text[])
        ORDER BY array_position($2::text[], i.message_id_header::text) LIMIT 1`,
      [organizationId, ids]));
    return row ? toThreading(row) : null;
  }

  async ticketByNumber(organizationId: string, number: number): Promise<TicketForThreading | null> {
    const row = await withSql(this.orm, (sql) => sql.one<Record<string, unknown>>(
      `${TICKET_FOR_THREADING} WHERE t.organization_id = $1 AND t.number = $2`, [organizationId, number]));
    return row ? toThreading(row) : null;
  }

  /** A bounce: the address stops receiving notifications until someone fixes it. */
  async markBounced(organizationId: string, address: string, reason: string): Promise<number> {
    const rows = await withSql(this.orm, (sql) => sql.rows(
      `UPDATE reporter_identities SET deliverable = false, undeliverable_reason = $3
        WHERE organization_id = $1 AND kind = 'email' AND address = $2 RETURNING id`,
      [organizationId, address.toLowerCase(), reason]));
    return rows.length;
  }

  /** Everything a mail about a ticket needs, in one round trip. */
  async outgoingContext(organizationId: string, ticketNumber: number | null, messageId: string | null): Promise<OutgoingMailContext> {
    const row = await withSql(this.orm, (sql) => sql.one<{
      org_name: string | null; org_slug: string | null; mailbox_id: string | null; telegram_bot: string | null; ticket: { id: string; number: number; subject: string; reporterId: string } | null;
      ids: Array<{ id: string; direction: string }> | null;
      message: { author: string | null; body: string; mailId: string | null; files: Array<{ filename: string; contentType: string; storageKey: string; size: number }> | null } | null;
    }>(
      `WITH t AS (SELECT id, number, subject, reporter_id FROM tickets WHERE organization_id = $1 AND number = $2::int)
       SELECT (SELECT name FROM organizations WHERE id = $1) AS org_name, (SELECT slug FROM organizations WHERE id = $1) AS org_slug,
              (SELECT username FROM telegram_bots WHERE organization_id = $1 AND enabled ORDER BY created_at LIMIT 1) AS telegram_bot,
              (SELECT b.id FROM mailboxes b WHERE b.organization_id = $1 AND b.enabled
                ORDER BY (SELECT max(m.created_at) FROM inbound_mails m WHERE m.mailbox_id = b.id AND m.ticket_id = (SELECT id FROM t)) DESC NULLS LAST,
                         b.created_at
                LIMIT 1) AS mailbox_id,
              (SELECT json_build_object('id', t.id, 'number', t.number, 'subject', t.subject, 'reporterId', t.reporter_id) FROM t) AS ticket,
              (SELECT json_agg(json_build_object('id', i.message_id_header, 'direction', i.direction) ORDER BY i.created_at, i.id)
                 FROM mail_thread_ids i JOIN t ON i.ticket_id = t.id) AS ids,
              (SELECT json_build_object('author', u.name, 'body', m.body, 'mailId', m.metadata->'email'->>'messageId',
                        'files', (SELECT json_agg(json_build_object('filename', a.filename, 'contentType', a.content_type, 'storageKey', a.storage_key, 'size', a.size) ORDER BY a.id)
                                    FROM attachments a WHERE a.message_id = m.id))
                 FROM messages m JOIN t ON m.ticket_id = t.id LEFT JOIN users u ON u.id = m.author_user_id
                WHERE m.id = $3::uuid AND m.visibility = 'public') AS message`,
      [organizationId, ticketNumber, messageId]));
    const ids = row?.ids ?? [];
    // The mail this notification answers may be committed but not yet in the thread table (its log is
    // written just after the commit): its Message-ID is on the message too.
    const reported = row?.message?.mailId ?? null;
    if (reported && !ids.some((i) => i.id === reported)) ids.push({ id: reported, direction: 'in' });
    return {
      ticket: row?.ticket ?? null,
      threadIds: ids.map((i) => i.id),
      lastInboundId: ids.filter((i) => i.direction === 'in').at(-1)?.id ?? null,
      author: row?.message?.author ?? null,
      body: row?.message?.body ?? null,
      files: row?.message?.files ?? [],
      organizationName: row?.org_name ?? '',
      organizationSlug: row?.org_slug ?? '',
      mailboxId: row?.mailbox_id ?? null,
      telegramBot: row?.telegram_bot ?? null,
    };
  }

  async template(organizationId: string, kind: string, locale: string): Promise<{ subject: string; body: string } | null> {
    const row = await withSql(this.orm, (sql) => sql.one<{ subject: string; body: string }>(
      'SELECT subject, body FROM message_templates WHERE organization_id = $1 AND kind = $2 AND locale = $3', [organizationId, kind, locale]));
    return row ?? null;
  }

  async setTemplate(organizationId: string, kind: string, locale: string, subject: string, body: string): Promise<void> {
    await withSql(this.orm, (sql) => sql.rows(
      `INSERT INTO message_templates (id, organization_id, kind, locale, subject, body) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (organization_id, kind, locale) DO UPDATE SET subject = excluded.subject, body = excluded.body`,
      [uuidv7(), organizationId, kind, locale, subject, body]));
  }
}

/** Text as Postgres stores it: mail can carry NUL characters, which text columns refuse. */
function storable(s: string): string {
  return s.replace(/\u0000/g, '');
}

function toThreading(r: Record<string, unknown>): TicketForThreading {
  return {
    id: r.id as string, number: r.number as number, status: r.status as string, reporterId: r.reporter_id as string,
    closedAt: r.closed_at ? new Date(r.closed_at as string) : null,
  };
}
