import { z } from 'zod';
import { STATUSES } from '../core/ticket-status.ts';
import { PRIORITIES } from '../core/vocabulary.ts';
import { SORTS } from '../persistence/ticket-queries.ts';

/** Request and query schemas of the REST API: validation at the edge, and the source of openapi.json. */

const id = z.string().uuid();
const isoDate = z.string()
  .datetime({ offset: true, message: 'must be an ISO 8601 date-time with a time zone, e.g. 2026-12-01T17:00:00Z' })
  .refine((s) => {
    const year = new Date(s).getUTCFullYear();
    return year >= 1970 && year <= 9999;
  }, 'must be between the years 1970 and 9999');
/** Multipart fields arrive as text; "true"/"false" are booleans there. */
const flag = z.union(
  [z.boolean(), z.enum(['true', 'false', '1', '0', 'on']).transform((v) => v === 'true' || v === '1' || v === 'on')],
  { error: 'must be true or false' },
);

export const createTicketBody = z.strictObject({
  subject: z.string().trim().min(1, 'must not be empty').max(300),
  description: z.string().max(100_000).default(''),
  priority: z.enum(PRIORITIES).optional(),
  category: id.optional(),
  service: id.optional(),
  object: id.optional(),
  deadline: isoDate.optional(),
  /** Agents and admins may open a ticket on someone's behalf; without it the reporter is the key's owner. */
  reporter: z.strictObject({
    email: z.string().max(320).email().optional(),
    phone: z.string().regex(/^\+?[\d\s().-]{5,25}$/, 'must be a phone number')
      .refine((p) => p.replace(/\D/g, '').length >= 5, 'must have at least 5 digits').optional(),
    name: z.string().max(200).optional(),
  }).refine((r) => r.email || r.phone, 'needs an email or a phone').optional(),
});
export type CreateTicketBody = z.infer<typeof createTicketBody>;

export const createCommentBody = z.strictObject({
  body: z.string().max(100_000).default(''),
  internal: flag.default(false),
});

export const patchTicketBody = z.strictObject({
  status: z.enum(STATUSES).optional(),
  priority: z.enum(PRIORITIES).optional(),
  deadline: isoDate.nullable().optional(),
  category: id.nullable().optional(),
  assignee: id.nullable().optional(),
}).refine((b) => Object.values(b).some((v) => v !== undefined), 'send at least one of status, priority, deadline, category, assignee');

/** A list in one parameter, comma-separated (`status=new,open`); the parameter repeated works as well. */
const csv = <T extends readonly [string, ...string[]]>(values: T) =>
  z.preprocess(
    (v) => (Array.isArray(v) ? v.join(',') : v),
    z.string().transform((s) => s.split(',').map((v) => v.trim()).filter(Boolean)).pipe(z.array(z.enum(values))),
  );

export const pageQuery = z.strictObject({
  page: z.coerce.number().int().min(1).default(1),
  per_page: z.coerce.number().int().min(1).max(100).default(20),
});

export const listTicketsQuery = pageQuery.extend({
  status: csv(STATUSES).optional(),
  priority: csv(PRIORITIES).optional(),
  assignee: z.union([z.literal('none'), z.literal('me'), id]).optional(),
  category: id.optional(),
  object: id.optional(),
  service: id.optional(),
  q: z.string().trim().min(1).max(200).optional(),
  sort: z.string().refine((s) => Object.hasOwn(SORTS, s.replace(/^-/, '')), `must be one of ${Object.keys(SORTS).join(', ')}, optionally prefixed with - for descending`).default('-created_at'),
});

export const ticketNumberParam = z.string()
  .regex(/^[1-9]\d{0,9}$/, 'must be a ticket number, like 1042')
  .transform(Number)
  .pipe(z.number().max(2_147_483_647, 'no ticket has so high a number'));
