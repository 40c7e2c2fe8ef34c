import type { MikroORM } from '@mikro-orm/postgresql';
import { DomainError, invalid } from '../core/errors.ts';
import type { Actor, TicketState } from '../core/ports.ts';
import { FIELD_NAMES, planTicketUpdate, type TicketPatch } from '../core/ticket-update.ts';
import type { Channel } from '../core/vocabulary.ts';
import { inTransaction } from './sql.ts';
import { insertEvent, insertNotifications, notificationsJson, withIds } from './ticket-writes.ts';
import { TICKET_STATE_COLUMNS, toTicketState, type TicketStateRow } from './ticket-rows.ts';

const COLUMN_OF: Record<keyof TicketPatch, string> = {
  status: 'status', priority: 'priority', deadline: 'deadline', categoryId: 'category_id', assigneeId: 'assignee_id',
};

/** Applies a user's change to a ticket: rules from the core, the row, its audit event and notifications at once. */
export class TicketUpdateStore {
  constructor(private readonly orm: MikroORM) {}

  /** `patch` may be a function of the ticket as it is under the row lock (a Take that must not take over another's ticket). */
  update(actor: Actor, number: number, patch: TicketPatch | ((ticket: TicketState) => TicketPatch), channel: Channel): Promise<{ ticketId: string; notificationIds: string[] }> {
    return inTransaction(this.orm, async (sql) => {
      const customerOnly = actor.role === 'customer' ? 'AND reporter_id IN (SELECT id FROM reporters WHERE user_id = $3)' : '';
      const row = await sql.one<TicketStateRow>(
        `SELECT ${TICKET_STATE_COLUMNS} FROM tickets WHERE organization_id = $1 AND number = $2 ${customerOnly} FOR UPDATE`,
        actor.role === 'customer' ? [actor.organizationId, number, actor.userId] : [actor.organizationId, number],
      );
      if (!row) throw new DomainError('not_found', `Ticket #${number} does not exist.`);
      const ticket = toTicketState(row);
      const plan = planTicketUpdate(ticket, typeof patch === 'function' ? patch(ticket) : patch, actor);
      const fields = Object.keys(plan.changes) as Array<keyof TicketPatch>;
      if (fields.length === 0) return { ticketId: ticket.id, notificationIds: [] };

      if (plan.changes.assigneeId?.to) {
        const ok = await sql.one(
          `SELECT 1 FROM users WHERE id = $1 AND organization_id = $2 AND role IN ('agent', 'admin')`,
          [plan.changes.assigneeId.to, actor.organizationId],
        );
        if (!ok) throw invalid('assignee', 'The assignee must be an agent or admin of this organization.');
      }
      if (plan.changes.categoryId?.to) {
        const ok = await sql.one('SELECT 1 FROM categories WHERE id = $1 AND organization_id = $2', [plan.changes.categoryId.to, actor.organizationId]);
        if (!ok) throw invalid('category', 'No such category in this organization.');
      }

      const params: unknown[] = [ticket.id];
      const sets = fields.map((f) => {
        params.push(plan.changes[f]!.to);
        return `${COLUMN_OF[f]} = $${params.length}`;
      });
      await sql.rows(`UPDATE tickets SET ${sets.join(', ')}, updated_at = now() WHERE id = $1`, params);
      const notifications = withIds(plan.notifications);
      await sql.rows(
        `WITH ticket AS (SELECT $1::uuid AS id),
              audit AS (${insertEvent('$2', 'ticket.id', '$3', 'NULL', '$4', '$5', '$6', 'ticket')}),
              notes AS (${insertNotifications('$2', 'ticket.id', '$7', 'ticket')})
         SELECT 1`,
        [ticket.id, actor.organizationId, actor.userId, channel, plan.changes.status ? 'status_changed' : 'updated',
          JSON.stringify(renamed(plan.changes)), notificationsJson(notifications)],
      );
      const notificationIds = notifications.map((n) => n.id);
      return { ticketId: ticket.id, notificationIds };
    });
  }
}

/** The audit trail speaks the API's field names. */
function renamed(changes: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(changes).map(([k, v]) => [FIELD_NAMES[k as keyof TicketPatch] ?? k, v]));
}
