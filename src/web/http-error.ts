import { ZodError } from 'zod';
import { DomainError, type DomainErrorKind } from '../core/errors.ts';
import { QueueUnavailableError } from '../workers/intake-producer.ts';
import { isDatabaseUnavailable } from '../workers/retry-policy.ts';
import { describeZodError } from '../workers/retry-policy.ts';

/** An error with an HTTP status whose message is meant for the client. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const STATUS_OF: Record<DomainErrorKind, [number, string]> = {
  invalid: [422, 'invalid_field'],
  not_found: [404, 'not_found'],
  forbidden: [403, 'forbidden'],
  conflict: [409, 'conflict'],
  too_large: [413, 'too_large'],
  unauthenticated: [401, 'unauthenticated'],
};

/** Translates what a handler threw into what the client sees. Unknown errors become a generic 500. */
export function toHttpError(err: unknown): HttpError | null {
  if (err instanceof HttpError) return err;
  if (err instanceof DomainError) {
    const [status, code] = STATUS_OF[err.kind];
    return new HttpError(status, code, err.message, err.field);
  }
  if (err instanceof ZodError) {
    // An intake event the edge let through but the core's schema refuses: still the client's input.
    const field = err.issues[0]?.path.join('.') || undefined;
    return new HttpError(422, 'invalid_field', describeZodError(err), field);
  }
  if (err instanceof QueueUnavailableError && err.inDoubt) {
    return new HttpError(503, 'outcome_unknown', 'The connection to the queue broke while this request was being queued, so it may or may not have been saved. Retry with the same Idempotency-Key: that cannot save it twice.', undefined, { 'Retry-After': '5' });
  }
  if (err instanceof QueueUnavailableError) {
    return new HttpError(503, 'unavailable', 'The service cannot take requests right now (queue unavailable). Nothing was saved; retry in a few seconds.', undefined, { 'Retry-After': '5' });
  }
  if (isDatabaseUnavailable(err)) {
    // Not "nothing was saved": the connection may have dropped after a write (or the intake job) committed.
    return new HttpError(503, 'database_unavailable', 'The service cannot reach its database right now; retry in a few seconds (with the same Idempotency-Key if this request creates something).', undefined, { 'Retry-After': '5' });
  }
  const status = (err as { status?: unknown; expose?: unknown } | null)?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new HttpError(status, status === 413 ? 'too_large' : 'bad_request', (err as Error).message);
  }
  return null;
}

/**
 * What a client may learn from a job that failed: the worker records "<kind>: <message>" for the failures a
 * client caused (domain rules); anything else stays in the logs and the failed-jobs list.
 */
export function failureToHttp(reason: string): HttpError {
  const match = /^(invalid|not_found|forbidden|conflict|too_large|unauthenticated): (.*)$/s.exec(reason);
  if (match) {
    const [status, code] = STATUS_OF[match[1] as DomainErrorKind];
    // A bracketed tail is for administrators (the database's own words), not for the client.
    return new HttpError(status, code, match[2]!.replace(/\s*\[[\s\S]*\]$/, ''));
  }
  return new HttpError(500, 'intake_failed', 'The request could not be processed; it has been kept for an administrator to inspect and replay.');
}
