import type { TicketState } from '../core/ports.ts';
import type { TicketStatus } from '../core/ticket-status.ts';
import type { Channel, Priority } from '../core/vocabulary.ts';
import { isoOrNull } from './sql.ts';

/** The columns behind a TicketState, for SELECTs that feed domain decisions. */
export const TICKET_STATE_COLUMNS =
  `id, organization_id, number, status, priority, deadline, category_id, assignee_id, reporter_id, channel,
   (SELECT coalesce(array_agg(f.reporter_id::text), '{}') FROM ticket_followers f WHERE f.ticket_id = tickets.id) AS follower_ids`;

export interface TicketStateRow {
  id: string; organization_id: string; number: number; status: string; priority: string; deadline: Date | string | null;
  category_id: string | null; assignee_id: string | null; reporter_id: string; channel: string; follower_ids?: string[];
}

export function toTicketState(row: TicketStateRow): TicketState {
  return {
    id: row.id,
    organizationId: row.organization_id,
    number: row.number,
    status: row.status as TicketStatus,
    priority: row.priority as Priority,
    deadline: isoOrNull(row.deadline),
    categoryId: row.category_id,
    assigneeId: row.assignee_id,
    reporterId: row.reporter_id,
    channel: row.channel as Channel,
    followerIds: row.follower_ids ?? [],
  };
}
