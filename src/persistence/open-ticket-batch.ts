import type { MikroORM } from '@mikro-orm/postgresql';
import { withSql } from './sql.ts';
import { VIEW_SELECT, type ViewRow } from './ticket-queries.ts';
import { ensureTicketNumberSequence, isMissingSequence } from './ticket-numbers.ts';

/** One ticket to open, as the statement below reads it from its JSON parameter. */
export interface OpenTicketRow {
  receipt_id: string; organization_id: string; channel: string; external_id: string; request_hash: string | null;
  ticket_id: string; message_id: string; seq: string; subject: string; body: string; status: string;
  priority: string; deadline: string | null; category_id: string | null; service_id: string | null;
  object_id: string | null; assignee_id: string | null; reporter_id: string; author_user_id: string | null; author_reporter_id: string | null;
  visibility: string; body_html: string | null; metadata: Record<string, unknown>; follow_up_of: number | null;
  attachments: Array<{ id: string; filename: string; contentType: string; size: number; sha256: string; storageKey: string }>;
  changes: Record<string, unknown>;
  notifications: Array<{ id: string; kind: string; reporter_id: string | null; user_id: string | null; preferred_kind: string | null; payload: unknown }>;
}

/**
 * Receipts, tickets (numbered from each organization's sequence), first messages, attachments, audit events
 * and notifications of several new tickets in one statement: atomic, and for a row whose receipt already
 * exists, nothing at all. References to another organization's category, service or object are dropped.
 */
const OPEN_TICKETS_SQL = `WITH input AS (
   SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
     idx int, receipt_id uuid, organization_id uuid, channel text, external_id text, request_hash text, ticket_id uuid,
     message_id uuid, seq text, subject text, body text, status text, priority text, deadline timestamptz,
     category_id uuid, service_id uuid, object_id uuid, assignee_id uuid, reporter_id uuid, author_user_id uuid, author_reporter_id uuid,
     visibility text, body_html text, metadata jsonb, follow_up_of int, attachments jsonb, changes jsonb, notifications jsonb)),
 receipt AS (
   INSERT INTO intake_receipts (id, organization_id, channel, external_id, request_hash, ticket_id, message_id, opened_ticket)
   SELECT i.receipt_id, i.organization_id, i.channel, i.external_id, i.request_hash, i.ticket_id, i.message_id, true
     FROM input i WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = i.organization_id)
   ON CONFLICT (organization_id, channel, external_id) DO NOTHING
   RETURNING ticket_id),
 ticket AS (
   INSERT INTO tickets (id, organization_id, number, subject, description, status, priority, deadline,
                        category_id, service_id, object_id, assignee_id, reporter_id, channel, follow_up_of_id)
   SELECT i.ticket_id, i.organization_id, nextval(i.seq::regclass), i.subject, i.body, i.status, i.priority, i.deadline,
          (SELECT c.id FROM categories c WHERE c.id = i.category_id AND c.organization_id = i.organization_id),
          (SELECT s.id FROM services s WHERE s.id = i.service_id AND s.organization_id = i.organization_id),
          (SELECT o.id FROM objects o WHERE o.id = i.object_id AND o.organization_id = i.organization_id),
          (SELECT u.id FROM users u WHERE u.id = i.assignee_id AND u.organization_id = i.organization_id AND u.role IN ('agent', 'admin')),
          i.reporter_id, i.channel,
          (SELECT f.id FROM tickets f WHERE f.organization_id = i.organization_id AND f.number = i.follow_up_of)
     FROM input i JOIN receipt r ON r.ticket_id = i.ticket_id
   RETURNING *),
 opened AS (SELECT i.* FROM input i JOIN ticket t ON t.id = i.ticket_id),
 message AS (
   INSERT INTO messages (id, organization_id, ticket_id, author_user_id, author_reporter_id, visibility, channel, body, body_html, metadata)
   SELECT message_id, organization_id, ticket_id, author_user_id, author_reporter_id, visibility, channel, body, body_html,
          coalesce(metadata, '{}'::jsonb) FROM opened
   RETURNING id),
 files AS (
   INSERT INTO attachments (id, organization_id, ticket_id, message_id, filename, content_type, size, sha256, storage_key)
   SELECT a.id, o.organization_id, o.ticket_id, o.message_id, a.filename, a."contentType", a.size, a.sha256, a."storageKey"
     FROM opened o, jsonb_to_recordset(o.attachments)
          AS a(id uuid, filename text, "contentType" text, size bigint, sha256 text, "storageKey" text)
   RETURNING id),
 audit AS (
   INSERT INTO ticket_events (id, organization_id, ticket_id, actor_user_id, actor_reporter_id, channel, kind, changes)
   SELECT gen_random_uuid(), organization_id, ticket_id, author_user_id, author_reporter_id, channel, 'created', changes FROM opened
   RETURNING id),
 notes AS (
   INSERT INTO notifications (id, organization_id, ticket_id, kind, recipient_reporter_id, recipient_user_id, preferred_kind, payload)
   SELECT n.id, o.organization_id, o.ticket_id, n.kind, n.reporter_id, n.user_id, n.preferred_kind, n.payload
     FROM opened o, jsonb_to_recordset(o.notifications)
          AS n(id uuid, kind text, reporter_id uuid, user_id uuid, preferred_kind text, payload jsonb)
   RETURNING id)
 ${VIEW_SELECT.replace('SELECT t.id', 'SELECT i.idx, t.id').replace('FROM tickets t', 'FROM ticket t JOIN input i ON i.ticket_id = t.id')}`;

const MAX_BATCH = 64;

interface Pending { row: OpenTicketRow; resolve: (view: ViewRow | null) => void; reject: (err: unknown) => void }

/**
 * Gathers the new tickets that intake jobs running at the same moment want to write, and writes them with
 * one statement: under load, one round trip and one commit for many tickets. A batch that fails is written
 * again ticket by ticket, so that one bad ticket fails alone and the others are written as before.
 */
export class OpenTicketBatcher {
  private pending: Pending[] = [];
  private scheduled = false;

  constructor(private readonly orm: MikroORM) {}

  /** The opened ticket's view, or null when its receipt already existed (nothing was written). */
  open(row: OpenTicketRow): Promise<ViewRow | null> {
    return new Promise((resolve, reject) => {
      this.pending.push({ row, resolve, reject });
      if (this.pending.length >= MAX_BATCH) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        // Jobs whose data arrived in this turn of the event loop join the same statement.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    void this.write(batch);
  }

  private async write(batch: Pending[]): Promise<void> {
    try {
      const views = await this.run(batch.map((p) => p.row));
      batch.forEach((p, i) => p.resolve(views.get(i) ?? null));
    } catch (err) {
      if (batch.length === 1) {
        batch[0]!.reject(err);
        return;
      }
      await Promise.all(batch.map(async (p) => {
        try {
          p.resolve((await this.run([p.row])).get(0) ?? null);
        } catch (single) {
          p.reject(single);
        }
      }));
    }
  }

  private run(rows: OpenTicketRow[]): Promise<Map<number, ViewRow>> {
    const json = JSON.stringify(rows.map((row, idx) => ({ idx, ...row })));
    return withSql(this.orm, async (sql) => {
      let result: Array<ViewRow & { idx: number }>;
      try {
        result = await sql.rows<ViewRow & { idx: number }>(OPEN_TICKETS_SQL, [json]);
      } catch (err) {
        if (!isMissingSequence(err)) throw err;
        for (const org of new Set(rows.map((r) => r.organization_id))) await ensureTicketNumberSequence(sql, org);
        result = await sql.rows<ViewRow & { idx: number }>(OPEN_TICKETS_SQL, [json]);
      }
      return new Map(result.map((r) => [r.idx, r]));
    });
  }
}
