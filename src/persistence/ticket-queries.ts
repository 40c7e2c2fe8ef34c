import type { MikroORM } from '@mikro-orm/postgresql';
import type { Actor } from '../core/ports.ts';
import { iso, isoOrNull, withSql, type Sql } from './sql.ts';

/** A ticket as the API shows it. */
export interface TicketView {
  id: string;
  number: number;
  subject: string;
  description: string;
  status: string;
  priority: string;
  deadline: string | null;
  channel: string;
  category: { id: string; name: string } | null;
  service: { id: string; name: string } | null;
  object: { id: string; name: string } | null;
  assignee: { id: string; name: string; email: string } | null;
  reporter: { id: string; name: string };
  created_at: string;
  updated_at: string;
}

export interface TicketFilter {
  status?: string[];
  priority?: string[];
  assignee?: string | 'none';
  category?: string;
  object?: string;
  service?: string;
  q?: string;
  sort: string;
  page: number;
  perPage: number;
}

export const SORTS: Readonly<Record<string, string>> = Object.freeze({
  created_at: 't.created_at', updated_at: 't.updated_at', number: 't.number', deadline: 't.deadline',
  status: 't.status',
  priority: "array_position(ARRAY['low','normal','high','urgent']::text[], t.priority::text)",
});

export const VIEW_SELECT = `
  SELECT t.id, t.number, t.subject, t.description, t.status, t.priority, t.deadline, t.channel,
         t.created_at, t.updated_at, t.category_id, c.name AS category_name, t.service_id, s.name AS service_name,
         t.object_id, o.name AS object_name, t.assignee_id, a.name AS assignee_name, a.email AS assignee_email,
         t.reporter_id, r.name AS reporter_name
    FROM tickets t
    JOIN reporters r ON r.id = t.reporter_id
    LEFT JOIN categories c ON c.id = t.category_id
    LEFT JOIN services s ON s.id = t.service_id
    LEFT JOIN objects o ON o.id = t.object_id
    LEFT JOIN users a ON a.id = t.assignee_id`;

/** A message with its author's name and its attachments as JSON. */
const MESSAGE_SELECT = `
  SELECT m.id, m.visibility, m.channel, m.body, m.body_html, m.metadata, m.created_at, m.author_user_id, u.name AS user_name,
         m.author_reporter_id, r.name AS reporter_name,
         coalesce((SELECT json_agg(json_build_object('id', a.id, 'filename', a.filename, 'content_type', a.content_type,
                                                     'size', a.size, 'sha256', a.sha256) ORDER BY a.id)
                     FROM attachments a WHERE a.message_id = m.id), '[]'::json) AS attachments
    FROM messages m
    LEFT JOIN users u ON u.id = m.author_user_id
    LEFT JOIN reporters r ON r.id = m.author_reporter_id`;

export type ViewRow = Record<string, unknown> & { total?: string };

export function toView(r: ViewRow): TicketView {
  const ref = (id: unknown, name: unknown) => (id ? { id: id as string, name: name as string } : null);
  return {
    id: r.id as string,
    number: r.number as number,
    subject: r.subject as string,
    description: r.description as string,
    status: r.status as string,
    priority: r.priority as string,
    deadline: isoOrNull(r.deadline),
    channel: r.channel as string,
    category: ref(r.category_id, r.category_name),
    service: ref(r.service_id, r.service_name),
    object: ref(r.object_id, r.object_name),
    assignee: r.assignee_id ? { id: r.assignee_id as string, name: r.assignee_name as string, email: r.assignee_email as string } : null,
    reporter: { id: r.reporter_id as string, name: r.reporter_name as string },
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
  };
}

/** Restricts a query to what the actor may see: their organization, and a customer's own tickets. */
function visibility(actor: Actor, params: unknown[]): string {
  params.push(actor.organizationId);
  let clause = `t.organization_id = $${params.length}`;
  if (actor.role === 'customer') {
    params.push(actor.userId);
    clause += ` AND t.reporter_id IN (SELECT id FROM reporters WHERE user_id = $${params.length})`;
  }
  return clause;
}

export class TicketQueries {
  constructor(private readonly orm: MikroORM) {}

  async list(actor: Actor, f: TicketFilter): Promise<{ data: TicketView[]; total: number }> {
    const params: unknown[] = [];
    const where = [visibility(actor, params)];
    const add = (value: unknown, clause: (p: string) => string) => {
      params.push(value);
      where.push(clause(`$${params.length}`));
    };
    if (f.status?.length) add(f.status, (p) => `t.status = ANY(${p}::text[])`);
    if (f.priority?.length) add(f.priority, (p) => `t.priority = ANY(${p}::text[])`);
    if (f.assignee === 'none') where.push('t.assignee_id IS NULL');
    else if (f.assignee) add(f.assignee, (p) => `t.assignee_id = ${p}::uuid`);
    if (f.object) add(f.object, (p) => `t.object_id = ${p}::uuid`);
    if (f.service) add(f.service, (p) => `t.service_id = ${p}::uuid`);
    if (f.category) {
      // A category stands for its whole subtree.
      add(f.category, (p) => `t.category_id IN (
        WITH RECURSIVE sub AS (SELECT id FROM categories WHERE id = ${p}::uuid
                               UNION ALL SELECT c2.id FROM categories c2 JOIN sub ON c2.parent_id = sub.id)
        SELECT id FROM sub)`);
    }
    if (f.q) add(f.q, (p) => `t.search @@ websearch_to_tsquery('simple', ${p})`);
    const desc = f.sort.startsWith('-');
    const key = f.sort.replace(/^-/, '');
    const column = Object.hasOwn(SORTS, key) ? SORTS[key]! : SORTS.created_at!;
    params.push(f.perPage, (f.page - 1) * f.perPage);
    const rows = await withSql(this.orm, (sql) => sql.rows<ViewRow>(
      `${VIEW_SELECT.replace('SELECT t.id', 'SELECT count(*) OVER () AS total, t.id')}
        WHERE ${where.join(' AND ')}
        ORDER BY ${column} ${desc ? 'DESC' : 'ASC'} NULLS LAST, t.number ${desc ? 'DESC' : 'ASC'}
        LIMIT $${params.length - 1} OFFSET $${params.length}`,
      params,
    ));
    let total = rows[0] ? Number(rows[0].total) : 0;
    if (rows.length === 0 && f.page > 1) {
      // Past the last page the window count is unavailable; count separately so the client still learns it.
      const count = await withSql(this.orm, (sql) => sql.one<{ n: string }>(
        `SELECT count(*) AS n FROM tickets t WHERE ${where.join(' AND ')}`, params.slice(0, -2)));
      total = Number(count?.n ?? 0);
    }
    return { data: rows.map(toView), total };
  }

  get(actor: Actor, number: number): Promise<TicketView | null> {
    return withSql(this.orm, (sql) => getView(sql, actor, number));
  }

  getById(organizationId: string, id: string): Promise<TicketView | null> {
    return withSql(this.orm, async (sql) => {
      const row = await sql.one<ViewRow>(`${VIEW_SELECT} WHERE t.id = $1 AND t.organization_id = $2`, [id, organizationId]);
      return row ? toView(row) : null;
    });
  }

  async messages(actor: Actor, ticketId: string, page: number, perPage: number): Promise<{ data: MessageView[]; total: number }> {
    const hideInternal = actor.role === 'customer';
    return withSql(this.orm, async (sql) => {
      const rows = await sql.rows<Record<string, unknown>>(
        `${MESSAGE_SELECT.replace('SELECT m.id', 'SELECT count(*) OVER () AS total, m.id')}
          WHERE m.ticket_id = $1 AND m.organization_id = $2 ${hideInternal ? "AND m.visibility = 'public'" : ''}
          ORDER BY m.created_at, m.id
          LIMIT $3 OFFSET $4`,
        [ticketId, actor.organizationId, perPage, (page - 1) * perPage],
      );
      return { data: rows.map((r) => toMessageView(r, actor)), total: rows[0] ? Number(rows[0].total) : 0 };
    });
  }

  /** A message the actor may read (customers: public messages of their own tickets). */
  async message(actor: Actor, messageId: string): Promise<MessageView | null> {
    return withSql(this.orm, async (sql) => {
      const params: unknown[] = [messageId];
      const row = await sql.one<Record<string, unknown>>(
        `${MESSAGE_SELECT}
           JOIN tickets t ON t.id = m.ticket_id
          WHERE m.id = $1 AND ${visibility(actor, params)} ${actor.role === 'customer' ? "AND m.visibility = 'public'" : ''}`,
        params,
      );
      return row ? toMessageView(row, actor) : null;
    });
  }

  async events(actor: Actor, ticketId: string, page: number, perPage: number): Promise<{ data: EventView[]; total: number }> {
    return withSql(this.orm, async (sql) => {
      const rows = await sql.rows<Record<string, unknown>>(
        `SELECT count(*) OVER () AS total, e.id, e.kind, e.channel, e.changes, e.created_at,
                e.actor_user_id, u.name AS user_name, e.actor_reporter_id, r.name AS reporter_name
           FROM ticket_events e
           LEFT JOIN users u ON u.id = e.actor_user_id
           LEFT JOIN reporters r ON r.id = e.actor_reporter_id
          WHERE e.ticket_id = $1 AND e.organization_id = $2
          ORDER BY e.created_at, e.id
          LIMIT $3 OFFSET $4`,
        [ticketId, actor.organizationId, perPage, (page - 1) * perPage],
      );
      return {
        total: rows[0] ? Number(rows[0].total) : 0,
        data: rows.map((r) => ({
          id: r.id as string,
          kind: r.kind as string,
          channel: r.channel as string,
          actor: actorOf(r.actor_user_id, r.user_name, r.actor_reporter_id, r.reporter_name),
          changes: r.changes as Record<string, unknown>,
          created_at: iso(r.created_at),
        })),
      };
    });
  }

  /** An attachment the actor may download, or null. Customers never see files of internal notes. */
  async attachment(actor: Actor, id: string): Promise<{ filename: string; contentType: string; size: number; storageKey: string } | null> {
    return withSql(this.orm, async (sql) => {
      const params: unknown[] = [id];
      const row = await sql.one<{ filename: string; content_type: string; size: string; storage_key: string }>(
        `SELECT a.filename, a.content_type, a.size, a.storage_key
           FROM attachments a JOIN tickets t ON t.id = a.ticket_id JOIN messages m ON m.id = a.message_id
          WHERE a.id = $1 AND ${visibility(actor, params)} ${actor.role === 'customer' ? "AND m.visibility = 'public'" : ''}`,
        params,
      );
      return row ? { filename: row.filename, contentType: row.content_type, size: Number(row.size), storageKey: row.storage_key } : null;
    });
  }
}

async function getView(sql: Sql, actor: Actor, number: number): Promise<TicketView | null> {
  const params: unknown[] = [number];
  const row = await sql.one<ViewRow>(`${VIEW_SELECT} WHERE t.number = $1 AND ${visibility(actor, params)}`, params);
  return row ? toView(row) : null;
}

export interface MessageView {
  id: string;
  visibility: string;
  channel: string;
  body: string;
  /** Sanitized HTML, for messages that arrived as HTML. */
  html: string | null;
  /** What the channel recorded (e.g. an email's Message-ID and the threading rule that matched); staff only. */
  metadata?: Record<string, unknown>;
  author: { type: 'user' | 'reporter'; id: string; name: string } | null;
  attachments: Array<{ id: string; filename: string; content_type: string; size: number; sha256: string }>;
  created_at: string;
}

export interface EventView {
  id: string;
  kind: string;
  channel: string;
  actor: { type: 'user' | 'reporter'; id: string; name: string } | null;
  changes: Record<string, unknown>;
  created_at: string;
}

function actorOf(userId: unknown, userName: unknown, reporterId: unknown, reporterName: unknown): MessageView['author'] {
  if (userId) return { type: 'user', id: userId as string, name: userName as string };
  if (reporterId) return { type: 'reporter', id: reporterId as string, name: reporterName as string };
  return null;
}

function toMessageView(r: Record<string, unknown>, actor: Actor): MessageView {
  return {
    id: r.id as string,
    visibility: r.visibility as string,
    channel: r.channel as string,
    body: r.body as string,
    html: (r.body_html as string | null) ?? null,
    ...(actor.role === 'customer' ? {} : { metadata: (r.metadata as Record<string, unknown>) ?? {} }),
    author: actorOf(r.author_user_id, r.user_name, r.author_reporter_id, r.reporter_name),
    attachments: (r.attachments as MessageView['attachments']).map((a) => ({ ...a, size: Number(a.size) })),
    created_at: iso(r.created_at),
  };
}

/** The referenced ids that do not exist in the organization, by field name. */
export async function missingReferences(
  orm: MikroORM,
  organizationId: string,
  refs: { category?: string | null; service?: string | null; object?: string | null },
): Promise<string[]> {
  const tables = { category: 'categories', service: 'services', object: 'objects' } as const;
  const wanted = (Object.keys(tables) as Array<keyof typeof tables>).filter((k) => refs[k]);
  if (wanted.length === 0) return [];
  const params: unknown[] = [organizationId];
  const selects = wanted.map((k) => {
    params.push(refs[k]);
    return `EXISTS (SELECT 1 FROM ${tables[k]} WHERE id = $${params.length}::uuid AND organization_id = $1) AS ${k}`;
  });
  const row = await withSql(orm, (sql) => sql.one<Record<string, boolean>>(`SELECT ${selects.join(', ')}`, params));
  return wanted.filter((k) => !row?.[k]);
}
