import { z } from 'zod';
import { CHANNELS, IDENTITY_KINDS, LOCALES, PRIORITIES, VISIBILITIES, normalizeAddress } from './vocabulary.ts';
import { wellFormed } from './text.ts';

/**
 * A file that a channel has already put into attachment storage. Intake events carry references, never
 * bytes, so that queue payloads stay small and a retried job does not upload twice.
 */
/** Text as Postgres can store it: NUL characters (which some mail and forms carry) are dropped, half characters replaced. */
const text = (max: number) => z.string().max(max).transform((s) => wellFormed(s.replace(/\u0000/g, '')));

export const storedFileSchema = z.object({
  storageKey: z.string().min(1),
  filename: z.string().min(1).max(255),
  contentType: z.string().min(1),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type StoredFile = z.infer<typeof storedFileSchema>;

export const ticketFieldsSchema = z.object({
  priority: z.enum(PRIORITIES).optional(),
  categoryId: z.string().uuid().optional(),
  serviceId: z.string().uuid().optional(),
  objectId: z.string().uuid().optional(),
  deadline: z.string().datetime({ offset: true }).optional(),
  /** Number of an earlier ticket of the organization this new one continues. */
  followUpOf: z.number().int().positive().optional(),
});
export type TicketFields = z.infer<typeof ticketFieldsSchema>;

/**
 * What every channel hands the core: one thing that arrived, normalized. The pair
 * (organizationId, channel, externalId) is the idempotency key: delivered twice, it makes one ticket or message.
 */
export const intakeEventSchema = z.object({
  organizationId: z.string().uuid(),
  channel: z.enum(CHANNELS),
  /** The channel's own id of what arrived (Telegram update id, Message-ID, API idempotency key...). */
  externalId: z.string().min(1).max(512),
  /** Who sent it, as the channel knows them. */
  sender: z.object({
    kind: z.enum(IDENTITY_KINDS),
    address: z.string().min(1).max(320),
    name: text(200).optional(),
    locale: z.enum(LOCALES).optional(),
  }).refine((s) => normalizeAddress(s.kind, s.address).length > 0, { message: 'the address is empty once normalized', path: ['address'] }),
  /**
   * Set only by channels that authenticated a user of the organization (the API key's owner). Channels must
   * never derive it from unsigned data such as an email From header.
   */
  authorUserId: z.string().uuid().optional(),
  /** An existing ticket this event adds to; absent means a new ticket. */
  ticketNumber: z.number().int().positive().optional(),
  subject: text(300).optional(),
  text: text(100_000),
  /** The message as sanitized HTML, when it arrived as HTML; `text` is then its readable plain text. */
  html: text(2_000_000).optional(),
  visibility: z.enum(VISIBILITIES).default('public'),
  fields: ticketFieldsSchema.default({}),
  attachments: z.array(storedFileSchema).max(100).default([]),
  /** Hash of the original request, to tell a true retry from a reused idempotency key. */
  requestHash: z.string().max(128).optional(),
  metadata: z.record(z.string(), z.unknown()).default({}),
  receivedAt: z.string().datetime({ offset: true }),
});
export type IntakeEvent = z.infer<typeof intakeEventSchema>;
export type IntakeEventInput = z.input<typeof intakeEventSchema>;

/** What processing an intake event produced; also what a repeated delivery of it returns. */
export interface IntakeOutcome {
  ticketId: string;
  ticketNumber: number;
  messageId: string;
  /** False when this event had been processed before and nothing new was written. */
  created: boolean;
  /** True when the event opened the ticket (as opposed to adding to an existing one). */
  openedTicket: boolean;
  requestHash: string | null;
  /** Notifications written in the same transaction, to be queued after commit. */
  notificationIds: string[];
  /** How the store presents a ticket it opened, when it can say so without another query. */
  view?: unknown;
}
