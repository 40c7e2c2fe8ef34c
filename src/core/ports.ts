import type { Readable } from 'node:stream';
import type { IntakeEvent, IntakeOutcome, StoredFile } from './intake-event.ts';
import type { NotificationPlan } from './notifications.ts';
import type { TicketStatus } from './ticket-status.ts';
import type { Channel, IdentityKind, Priority, Role } from './vocabulary.ts';

/** Where attachment bytes live. Local disk by default; an object store can implement the same. */
export interface AttachmentStorage {
  /**
   * Stores a stream and returns its reference. Fails with a `too_large` DomainError, storing nothing,
   * when the stream exceeds `maxBytes`. The content type is sniffed from the bytes, never trusted.
   */
  put(input: Readable, meta: { filename: string; declaredType?: string; maxBytes: number }): Promise<StoredFile>;
  /** Opens a stored file for reading; fails with `not_found` when it is gone. */
  open(storageKey: string): Promise<Readable>;
}

/** A user of an organization, as the domain needs to know them. */
export interface Actor {
  userId: string;
  organizationId: string;
  role: Role;
}

/** The current state of a ticket, as decisions about it need it. */
export interface TicketState {
  id: string;
  organizationId: string;
  number: number;
  status: TicketStatus;
  priority: Priority;
  deadline: string | null;
  categoryId: string | null;
  assigneeId: string | null;
  reporterId: string;
  channel: Channel;
  /** Reporters who follow the ticket ("I have the same problem"): told what its reporter is told. */
  followerIds?: readonly string[];
}

/** A change to one field, as kept in the audit trail. */
export type FieldChanges = Record<string, { from: unknown; to: unknown }>;

/** The rows the intake transaction writes; the store writes them all or none. */
export interface IntakeStore {
  /** The outcome of an event already processed, or null. */
  findOutcome(organizationId: string, channel: string, externalId: string): Promise<IntakeOutcome | null>;
  /**
   * Writes the event in one transaction. `decide` runs inside it, with the reporter resolved and (for a
   * message on an existing ticket) the ticket locked, and returns what else to change and whom to tell.
   * Returns the earlier outcome, with `created: false`, when the event was already processed.
   */
  write(event: IntakeEvent, decide: (ctx: IntakeContext) => IntakeDecision): Promise<IntakeOutcome>;
}

export interface IntakeContext {
  reporterId: string;
  /** The existing ticket the event adds to; null for a new ticket. */
  ticket: TicketState | null;
  /** The author when an authenticated user wrote it. */
  author: Actor | null;
}

export interface IntakeDecision {
  /** Status of the ticket after the event (unchanged when equal to the current one). */
  status: TicketStatus;
  notifications: NotificationPlan[];
}

/** Delivers notifications of one identity kind. Channels register one each. */
export interface NotificationSender {
  readonly kind: IdentityKind;
  /**
   * Sends one notification to one address. Throws a DeliveryError: `undeliverable` means this address can
   * never receive (the router tries another identity), `unavailable` that this channel cannot send this one
   * (not configured for the organization; another identity is tried, the address stays usable), anything
   * else is retried.
   */
  send(notification: OutgoingNotification, address: string): Promise<{ externalId?: string }>;
}

export interface OutgoingNotification {
  id: string;
  organizationId: string;
  /** The reporter it is for (null for a user): whether they are the ticket's reporter decides what a mail links to. */
  recipientReporterId?: string | null;
  kind: string;
  ticketNumber: number | null;
  locale: string;
  payload: Record<string, unknown>;
}

export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly reason: 'undeliverable' | 'unavailable' | 'rate_limited' | 'transient',
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'DeliveryError';
  }
}
