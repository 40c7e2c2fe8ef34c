import { DomainError, forbidden, invalid } from './errors.ts';
import type { Actor, FieldChanges, TicketState } from './ports.ts';
import { STATUSES, allowedTransitions, canTransition, type TicketStatus } from './ticket-status.ts';
import { PRIORITIES, identityKindOf, type Priority } from './vocabulary.ts';
import { toFollowers, type NotificationPlan } from './notifications.ts';

/** The fields a user may change on a ticket. `null` clears a field. */
export interface TicketPatch {
  status?: TicketStatus;
  priority?: Priority;
  deadline?: string | null;
  categoryId?: string | null;
  assigneeId?: string | null;
}

const STAFF_ONLY: ReadonlyArray<keyof TicketPatch> = ['priority', 'deadline', 'categoryId', 'assigneeId'];
/** How people name the fields (and the API and the audit trail spell them). */
export const FIELD_NAMES: Readonly<Record<keyof TicketPatch, string>> = {
  status: 'status', priority: 'priority', deadline: 'deadline', categoryId: 'category', assigneeId: 'assignee',
};
/** A customer may close their ticket, or reopen one that was resolved or closed; nothing else. */
/** What a reporter may do to the status of their own ticket, by any channel: close it, or reopen it. */
export function reporterMayMove(from: TicketStatus, to: TicketStatus): boolean {
  return to === 'closed' || (to === 'open' && (from === 'resolved' || from === 'closed'));
}

/**
 * Taking a ticket makes the actor its assignee; a ticket someone else has already taken is theirs until they or
 * an admin hand it on (two agents pressing Take at once: the second is told, the first keeps it).
 */
export function takeTicket(ticket: TicketState, actor: Actor): TicketPatch {
  if (ticket.assigneeId && ticket.assigneeId !== actor.userId) {
    throw new DomainError('conflict', 'Someone else has already taken this ticket; ask them, or change the assignee, to hand it on.', 'assignee');
  }
  return { assigneeId: actor.userId, ...(ticket.status === 'new' ? { status: 'open' as const } : {}) };
}

export interface UpdatePlan {
  changes: FieldChanges;
  notifications: NotificationPlan[];
}

/** Checks a patch against the ticket and the actor's role and says what changes. Throws when not allowed. */
export function planTicketUpdate(ticket: TicketState, patch: TicketPatch, actor: Actor): UpdatePlan {
  // Every edge checks its input; this holds for the ones that pass values through (a Slack menu's option).
  if (patch.priority !== undefined && !(PRIORITIES as readonly string[]).includes(patch.priority)) {
    throw invalid('priority', `The priority must be one of ${PRIORITIES.join(', ')}.`);
  }
  if (patch.status !== undefined && !(STATUSES as readonly string[]).includes(patch.status)) {
    throw invalid('status', `The status must be one of ${STATUSES.join(', ')}.`);
  }
  if (actor.role === 'customer') {
    const denied = STAFF_ONLY.filter((f) => patch[f] !== undefined);
    if (denied.length > 0) throw forbidden(`Customers cannot change the ${denied.map((f) => FIELD_NAMES[f]).join(', ')}.`);
    if (patch.status !== undefined && patch.status !== ticket.status && !reporterMayMove(ticket.status, patch.status)) {
      throw forbidden('Customers can only close or reopen their tickets.');
    }
  }
  const changes: FieldChanges = {};
  const current: Record<keyof TicketPatch, unknown> = {
    status: ticket.status,
    priority: ticket.priority,
    deadline: ticket.deadline,
    categoryId: ticket.categoryId,
    assigneeId: ticket.assigneeId,
  };
  for (const key of Object.keys(patch) as Array<keyof TicketPatch>) {
    const to = patch[key];
    if (to === undefined) continue;
    const from = current[key];
    const same = key === 'deadline' && typeof to === 'string' && typeof from === 'string'
      ? Date.parse(to) === Date.parse(from)
      : to === from;
    if (!same) changes[key] = { from, to };
  }
  if (changes.status) {
    const to = changes.status.to as TicketStatus;
    if (to === 'new') throw new DomainError('conflict', 'A ticket cannot be set back to new; reopen it with status "open".', 'status');
    if (!canTransition(ticket.status, to)) {
      throw new DomainError(
        'conflict',
        `A ${ticket.status} ticket cannot become ${to}; allowed: ${allowedTransitions(ticket.status).join(', ')}.`,
        'status',
      );
    }
  }
  const notifications: NotificationPlan[] = [];
  if (changes.status && actor.role !== 'customer') {
    notifications.push({
      kind: 'status_changed',
      recipient: { reporterId: ticket.reporterId },
      preferredKind: identityKindOf(ticket.channel),
      payload: { from: changes.status.from, to: changes.status.to },
    }, ...toFollowers(ticket, 'status_changed', { from: changes.status.from, to: changes.status.to }));
  }
  return { changes, notifications };
}

/** A rating a reporter may give: 1 to 5, on a ticket that is resolved or closed. */
export function checkRating(status: TicketStatus, score: number): void {
  if (!Number.isInteger(score) || score < 1 || score > 5) throw invalid('rating', 'A rating is a whole number from 1 to 5.');
  if (status !== 'resolved' && status !== 'closed') throw forbidden('Only a resolved or closed ticket can be rated.');
}
