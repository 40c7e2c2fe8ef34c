import { DomainError, forbidden } from './errors.ts';
import type { IntakeEvent, IntakeOutcome } from './intake-event.ts';
import type { NotificationPlan } from './notifications.ts';
import type { IntakeContext, IntakeDecision, IntakeStore } from './ports.ts';
import { statusAfterReporterReply } from './ticket-status.ts';
import { identityKindOf } from './vocabulary.ts';
import { cutText } from './text.ts';

/**
 * Turns an intake event into a new ticket or a message on an existing one. Channels never call this
 * directly: they put the event on the intake queue and a worker calls it.
 */
export class IntakeService {
  constructor(private readonly store: IntakeStore) {}

  async process(event: IntakeEvent): Promise<IntakeOutcome> {
    // The store refuses a second write of the same event and returns the first outcome instead.
    return this.store.write(event, (ctx) => decide(event, ctx));
  }
}

/** The rules of intake, apart from storage: who may write what, what happens to the status, whom to tell. */
export function decide(event: IntakeEvent, ctx: IntakeContext): IntakeDecision {
  const { ticket, author } = ctx;
  const internal = event.visibility === 'internal';
  if (internal && (!author || author.role === 'customer')) {
    throw forbidden('Only agents and admins can write internal notes.');
  }
  if (!ticket) {
    if (author?.role === 'customer' && (event.fields.priority || event.fields.deadline)) {
      throw forbidden('Customers cannot set the priority or the deadline; an agent triages the ticket.');
    }
    const notifications: NotificationPlan[] = [];
    // The API caller already holds the answer; every other channel gets an acknowledgement.
    if (event.channel !== 'api') {
      notifications.push({
        kind: 'ticket_received',
        recipient: { reporterId: ctx.reporterId },
        preferredKind: event.sender.kind,
        payload: { subject: event.subject ?? null },
      });
    }
    return { status: 'new', notifications };
  }

  if (ticket.organizationId !== event.organizationId) {
    throw new DomainError('not_found', `Ticket #${ticket.number} does not exist.`);
  }
  const byStaff = author !== null && author.role !== 'customer';
  if (!byStaff && ticket.reporterId !== ctx.reporterId) {
    throw forbidden(`The sender is not the reporter of ticket #${ticket.number}.`);
  }
  if (byStaff) {
    const notifications: NotificationPlan[] = internal
      ? []
      : [{
          kind: 'agent_replied',
          recipient: { reporterId: ticket.reporterId },
          preferredKind: identityKindOf(ticket.channel),
          payload: { text: cutText(event.text, 4000) },
        }];
    return { status: ticket.status, notifications };
  }
  const notifications: NotificationPlan[] = ticket.assigneeId
    ? [{
        kind: 'reporter_replied',
        recipient: { userId: ticket.assigneeId },
        preferredKind: null,
        payload: { text: cutText(event.text, 4000) },
      }]
    : [];
  return { status: statusAfterReporterReply(ticket.status), notifications };
}
