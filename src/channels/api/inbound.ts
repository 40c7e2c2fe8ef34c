import { createHash } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import type { IntakeEventInput, StoredFile } from '../../core/intake-event.ts';
import type { Actor } from '../../core/ports.ts';
import type { Priority } from '../../core/vocabulary.ts';

/** What the REST API accepts to open a ticket, once validated. */
export interface TicketRequest {
  subject: string;
  description: string;
  priority?: Priority;
  category?: string;
  service?: string;
  object?: string;
  deadline?: string;
  reporter?: { email?: string; phone?: string; name?: string };
}

export interface CommentRequest { body: string; internal: boolean }

/** The API user behind a request, with their display name. */
export type ApiCaller = Actor & { name: string };

/**
 * The idempotency key of an API request: the client's Idempotency-Key, scoped to the key's user, or a fresh
 * id when the client sent none (then every request is new).
 */
export function apiExternalId(caller: ApiCaller, idempotencyKey: string | undefined): string {
  return idempotencyKey ? `key/${caller.userId}/${idempotencyKey}` : `req/${caller.userId}/${uuidv7()}`;
}

/** The public id of a request answered 202; only its own user can follow it. */
export function encodeRequestId(externalId: string): string {
  return Buffer.from(externalId, 'utf8').toString('base64url');
}

/** The external id behind a request id, when it belongs to `caller`. */
export function decodeRequestId(caller: ApiCaller, requestId: string): string | null {
  const externalId = Buffer.from(requestId, 'base64url').toString('utf8');
  return externalId.startsWith(`key/${caller.userId}/`) || externalId.startsWith(`req/${caller.userId}/`) ? externalId : null;
}

/** A fingerprint of what was asked, to tell a retry (same body) from a reused key (different body). */
export function requestHash(route: string, fields: unknown, files: readonly StoredFile[]): string {
  return createHash('sha256')
    .update(route)
    .update('\n')
    .update(stableJson(fields))
    .update('\n')
    .update(files.map((f) => `${f.sha256}:${f.filename}`).join(','))
    .digest('hex');
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Who the ticket is from: the caller, or (for staff) the person named in `reporter`. */
function sender(caller: ApiCaller, reporter: TicketRequest['reporter']): IntakeEventInput['sender'] {
  if (reporter && caller.role !== 'customer') {
    if (reporter.email) return { kind: 'email', address: reporter.email, ...(reporter.name ? { name: reporter.name } : {}) };
    if (reporter.phone) return { kind: 'phone', address: reporter.phone, ...(reporter.name ? { name: reporter.name } : {}) };
  }
  return { kind: 'api', address: caller.userId, name: caller.name };
}

export function ticketEvent(caller: ApiCaller, req: TicketRequest, files: StoredFile[], externalId: string, hash: string): IntakeEventInput {
  return {
    organizationId: caller.organizationId,
    channel: 'api',
    externalId,
    sender: sender(caller, req.reporter),
    authorUserId: caller.userId,
    subject: req.subject,
    text: req.description,
    fields: {
      ...(req.priority ? { priority: req.priority } : {}),
      ...(req.category ? { categoryId: req.category } : {}),
      ...(req.service ? { serviceId: req.service } : {}),
      ...(req.object ? { objectId: req.object } : {}),
      ...(req.deadline ? { deadline: req.deadline } : {}),
    },
    attachments: files,
    requestHash: hash,
    receivedAt: new Date().toISOString(),
  };
}

export function commentEvent(caller: ApiCaller, ticketNumber: number, req: CommentRequest, files: StoredFile[], externalId: string, hash: string): IntakeEventInput {
  return {
    organizationId: caller.organizationId,
    channel: 'api',
    externalId,
    sender: { kind: 'api', address: caller.userId, name: caller.name },
    authorUserId: caller.userId,
    ticketNumber,
    text: req.body,
    visibility: req.internal ? 'internal' : 'public',
    attachments: files,
    requestHash: hash,
    receivedAt: new Date().toISOString(),
  };
}
