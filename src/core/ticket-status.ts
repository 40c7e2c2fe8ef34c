/**
 * Ticket statuses and the moves allowed between them.
 * `closed` is final for agents' workflow but a ticket can be reopened; `new` is only ever a starting point.
 */
export const STATUSES = ['new', 'open', 'in_progress', 'waiting', 'resolved', 'closed'] as const;
export type TicketStatus = (typeof STATUSES)[number];

const TRANSITIONS: Readonly<Record<TicketStatus, readonly TicketStatus[]>> = {
  new: ['open', 'in_progress', 'waiting', 'resolved', 'closed'],
  open: ['in_progress', 'waiting', 'resolved', 'closed'],
  in_progress: ['open', 'waiting', 'resolved', 'closed'],
  waiting: ['open', 'in_progress', 'resolved', 'closed'],
  resolved: ['open', 'closed'],
  closed: ['open'],
};

export function allowedTransitions(from: TicketStatus): readonly TicketStatus[] {
  return TRANSITIONS[from];
}

export function canTransition(from: TicketStatus, to: TicketStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * What a new public message from the reporter does to the ticket: a reply to a ticket that waits on them,
 * or that was resolved or closed, puts it back in front of the agents.
 */
export function statusAfterReporterReply(current: TicketStatus): TicketStatus {
  return current === 'waiting' || current === 'resolved' || current === 'closed' ? 'open' : current;
}
