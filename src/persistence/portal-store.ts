import type { MikroORM } from '@mikro-orm/postgresql';
import { v7 as uuidv7 } from 'uuid';
import { iso, withSql } from './sql.ts';

export interface PortalTicket {
  id: string; number: number; subject: string; status: string; rating: number | null; createdAt: string; updatedAt: string;
  messages: Array<{ id: string; body: string; at: string; by: 'you' | 'staff'; author: string | null; files: Array<{ id: string; filename: string; size: number }> }>;
}

/** What the customer portal reads and writes for a reporter: only their tickets, only public messages. */
export class PortalStore {
  constructor(private readonly orm: MikroORM) {}

  async organization(ref: string): Promise<{ id: string; name: string; slug: string } | null> {
    const row = await withSql(this.orm, (sql) => sql.one<{ id: string; name: string; slug: string }>(
      `SELECT id, name, slug FROM organizations WHERE slug = $1 OR id::text = $1`, [ref]));
    return row ?? null;
  }

  async onlyOrganization(): Promise<{ id: string; name: string; slug: string } | null> {
    const rows = await withSql(this.orm, (sql) => sql.rows<{ id: string; name: string; slug: string }>('SELECT id, name, slug FROM organizations LIMIT 2'));
    return rows.length === 1 ? rows[0]! : null;
  }

  async reporterByEmail(organizationId: string, email: string): Promise<string | null> {
    const row = await withSql(this.orm, (sql) => sql.one<{ reporter_id: string }>(
      `SELECT reporter_id FROM reporter_identities WHERE organization_id = $1 AND kind = 'email' AND address = $2`, [organizationId, email.trim().toLowerCase()]));
    return row?.reporter_id ?? null;
  }

  async reporterOfTicket(organizationId: string, number: number): Promise<string | null> {
    const row = await withSql(this.orm, (sql) => sql.one<{ reporter_id: string }>('SELECT reporter_id FROM tickets WHERE organization_id = $1 AND number = $2', [organizationId, number]));
    return row?.reporter_id ?? null;
  }

  /** The identity the portal writes as, tied to the reporter, so that intake finds the same person. */
  async portalIdentity(organizationId: string, reporterId: string): Promise<string> {
    const address = `portal:${reporterId}`;
    await withSql(this.orm, (sql) => sql.rows(
      `INSERT INTO reporter_identities (id, organization_id, reporter_id, kind, address) VALUES ($1, $2, $3, 'web', $4)
       ON CONFLICT (organization_id, kind, address) DO NOTHING`, [uuidv7(), organizationId, reporterId, address]));
    return address;
  }

  async tickets(organizationId: string, reporterId: string): Promise<Array<{ number: number; subject: string; status: string; updatedAt: string }>> {
    const rows = await withSql(this.orm, (sql) => sql.rows<{ number: number; subject: string; status: string; updated_at: unknown }>(
      `SELECT number, subject, status, updated_at FROM tickets WHERE organization_id = $1 AND reporter_id = $2 ORDER BY created_at DESC LIMIT 200`,
      [organizationId, reporterId]));
    return rows.map((r) => ({ number: r.number, subject: r.subject, status: r.status, updatedAt: iso(r.updated_at) }));
  }

  async ticket(organizationId: string, reporterId: string, number: number): Promise<PortalTicket | null> {
    return withSql(this.orm, async (sql) => {
      const t = await sql.one<{ id: string; number: number; subject: string; status: string; rating: number | null; created_at: unknown; updated_at: unknown }>(
        `SELECT id, number, subject, status, rating, created_at, updated_at FROM tickets WHERE organization_id = $1 AND reporter_id = $2 AND number = $3`,
        [organizationId, reporterId, number]);
      if (!t) return null;
      const messages = await sql.rows<{ id: string; body: string; created_at: unknown; author_user_id: string | null; user_name: string | null; files: Array<{ id: string; filename: string; size: number }> | null }>(
        `SELECT m.id, m.body, m.created_at, m.author_user_id, u.name AS user_name,
                (SELECT json_agg(json_build_object('id', a.id, 'filename', a.filename, 'size', a.size) ORDER BY a.id) FROM attachments a WHERE a.message_id = m.id) AS files
           FROM messages m LEFT JOIN users u ON u.id = m.author_user_id
          WHERE m.ticket_id = $1 AND m.visibility = 'public' ORDER BY m.created_at, m.id`, [t.id]);
      return {
        id: t.id, number: t.number, subject: t.subject, status: t.status, rating: t.rating, createdAt: iso(t.created_at), updatedAt: iso(t.updated_at),
        messages: messages.map((m) => ({
          id: m.id, body: m.body, at: iso(m.created_at), by: m.author_user_id ? 'staff' : 'you', author: m.user_name,
          files: (m.files ?? []).map((f) => ({ ...f, size: Number(f.size) })),
        })),
      };
    });
  }

  /** A file of a public message on one of the reporter's tickets. */
  async attachment(organizationId: string, reporterId: string, id: string, onlyTicket?: number): Promise<{ filename: string; contentType: string; size: number; storageKey: string } | null> {
    const row = await withSql(this.orm, (sql) => sql.one<{ filename: string; content_type: string; size: string; storage_key: string }>(
      `SELECT a.filename, a.content_type, a.size, a.storage_key FROM attachments a
         JOIN messages m ON m.id = a.message_id AND m.visibility = 'public'
         JOIN tickets t ON t.id = a.ticket_id
        WHERE a.id = $1 AND t.organization_id = $2 AND t.reporter_id = $3 AND ($4::int IS NULL OR t.number = $4)`, [id, organizationId, reporterId, onlyTicket ?? null]));
    return row ? { filename: row.filename, contentType: row.content_type, size: Number(row.size), storageKey: row.storage_key } : null;
  }

  /** A mail with a one-time sign-in link, as a notification (sent by the workers like any other). */
  async linkNotification(organizationId: string, reporterId: string, url: string, locale: string): Promise<string> {
    const id = uuidv7();
    await withSql(this.orm, (sql) => sql.rows(
      `INSERT INTO notifications (id, organization_id, kind, recipient_reporter_id, preferred_kind, payload)
       VALUES ($1, $2, 'portal_link', $3, 'email', $4::jsonb)`, [id, organizationId, reporterId, JSON.stringify({ url, locale })]));
    return id;
  }
}
