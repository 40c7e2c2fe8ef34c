import type { MikroORM } from '@mikro-orm/postgresql';
import { DomainError, forbidden } from '../core/errors.ts';
import { checkRating, reporterMayMove } from '../core/ticket-update.ts';
import type { TicketStatus } from '../core/ticket-status.ts';
import type { Channel, IdentityKind } from '../core/vocabulary.ts';
import { inTransaction } from './sql.ts';
import { cutText } from '../core/text.ts';

/**
 * What a reporter does on their own tickets from a channel (closing, rating, editing what they wrote), with
 * the rules from the core and an audit event naming them. The reporter is known by one of their identities.
 */
export class ReporterActions {
  constructor(private readonly orm: MikroORM) {}

  close(organizationId: string, who: { kind: IdentityKind; address: string }, number: number, channel: Channel): Promise<'closed' | 'already'> {
    return inTransaction(this.orm, async (sql) => {
      const t = await this.ownTicket(sql, organizationId, who, number);
      if (t.status === 'closed') return 'already';
      if (!reporterMayMove(t.status, 'closed')) throw forbidden(`Ticket #${number} cannot be closed now.`);
      await sql.rows(
        `WITH up AS (UPDATE tickets SET status = 'closed', updated_at = now() WHERE id = $1 RETURNING id)
         INSERT INTO ticket_events (id, organization_id, ticket_id, actor_reporter_id, channel, kind, changes)
         SELECT gen_random_uuid(), $2, up.id, $3, $4, 'updated', $5::jsonb FROM up`,
        [t.id, organizationId, t.reporter_id, channel, JSON.stringify({ status: { from: t.status, to: 'closed' } })]);
      return 'closed';
    });
  }

  rate(organizationId: string, who: { kind: IdentityKind; address: string }, number: number, score: number, channel: Channel, comment?: string): Promise<void> {
    return inTransaction(this.orm, async (sql) => {
      const t = await this.ownTicket(sql, organizationId, who, number);
      checkRating(t.status, score);
      await sql.rows(
        `WITH up AS (UPDATE tickets SET rating = $2 WHERE id = $1 RETURNING id)
         INSERT INTO ticket_events (id, organization_id, ticket_id, actor_reporter_id, channel, kind, changes)
         SELECT gen_random_uuid(), $3, up.id, $4, $5, 'rated', $6::jsonb FROM up`,
        [t.id, score, organizationId, t.reporter_id, channel, JSON.stringify({ rating: { from: t.rating, to: score }, ...(comment ? { comment: cutText(comment, 2000) } : {}) })]);
    });
  }

  /** Replaces the text of a message the reporter wrote; the audit trail keeps the old text. */
  editMessage(organizationId: string, messageId: string, body: string, channel: Channel): Promise<boolean> {
    return inTransaction(this.orm, async (sql) => {
      const m = await sql.one<{ id: string; ticket_id: string; body: string; author_reporter_id: string | null }>(
        'SELECT id, ticket_id, body, author_reporter_id FROM messages WHERE id = $1 AND organization_id = $2 FOR UPDATE', [messageId, organizationId]);
      if (!m || !m.author_reporter_id || m.body === body) return false;
      await sql.rows(
        `WITH up AS (UPDATE messages SET body = $2 WHERE id = $1 RETURNING id)
         INSERT INTO ticket_events (id, organization_id, ticket_id, actor_reporter_id, channel, kind, changes)
         SELECT gen_random_uuid(), $3, $4, $5, $6, 'message_edited', $7::jsonb FROM up`,
        [m.id, body.replace(/\u0000/g, ''), organizationId, m.ticket_id, m.author_reporter_id, channel,
          JSON.stringify({ messageId: m.id, body: { from: m.body, to: body } })]);
      return true;
    });
  }

  private async ownTicket(sql: { one<T>(text: string, params?: unknown[]): Promise<T | undefined> }, organizationId: string, who: { kind: IdentityKind; address: string }, number: number) {
    const t = await sql.one<{ id: string; status: TicketStatus; reporter_id: string; rating: number | null }>(
      `SELECT t.id, t.status, t.reporter_id, t.rating FROM tickets t
         JOIN reporter_identities i ON i.reporter_id = t.reporter_id AND i.organization_id = t.organization_id
        WHERE t.organization_id = $1 AND t.number = $2 AND i.kind = $3 AND i.address = $4
        FOR UPDATE OF t`,
      [organizationId, number, who.kind, who.address]);
    if (!t) throw new DomainError('not_found', `You have no ticket #${number}.`);
    return t;
  }
}
