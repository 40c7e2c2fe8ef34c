import type { TicketState } from './ports.ts';
import type { IdentityKind } from './vocabulary.ts';

/** What the core decided to tell someone; written in the same transaction as the change that caused it. */
export interface NotificationPlan {
  kind: 'ticket_received' | 'agent_replied' | 'status_changed' | 'reporter_replied' | 'portal_link';
  recipient: { reporterId: string } | { userId: string };
  /** The channel the recipient used last; tried first. */
  preferredKind: IdentityKind | null;
  payload: Record<string, unknown>;
}

export interface RecipientAddress {
  identityId: string | null;
  kind: IdentityKind;
  address: string;
  deliverable: boolean;
}

/**
 * The order in which to try a recipient's addresses: the preferred kind first, then the others in the order
 * they were added; only kinds that have a sender and addresses not known to bounce.
 */
export function routeNotification(
  addresses: readonly RecipientAddress[],
  preferredKind: IdentityKind | null,
  canSend: (kind: IdentityKind) => boolean,
): RecipientAddress[] {
  const usable = addresses.filter((a) => a.deliverable && canSend(a.kind));
  const preferred = usable.filter((a) => a.kind === preferredKind);
  const others = usable.filter((a) => a.kind !== preferredKind);
  return [...preferred, ...others];
}

/**
 * The same notification for each follower of the ticket, by whatever channel reaches them. Followers hear that
 * the ticket moved (status), not what was written to its reporter.
 */
export function toFollowers(ticket: TicketState, kind: NotificationPlan['kind'], payload: Record<string, unknown>): NotificationPlan[] {
  return (ticket.followerIds ?? [])
    .filter((id) => id !== ticket.reporterId)
    .map((reporterId) => ({ kind, recipient: { reporterId }, preferredKind: null, payload }));
}
