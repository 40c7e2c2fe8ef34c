/**
 * The few ways a domain operation can fail. The web layer maps each to an HTTP status, the workers map
 * `permanent` ones to a job failed for good (no retry) and everything else to a retry.
 */
export type DomainErrorKind = 'invalid' | 'not_found' | 'forbidden' | 'conflict' | 'too_large' | 'unauthenticated';

export class DomainError extends Error {
  constructor(
    readonly kind: DomainErrorKind,
    message: string,
    /** The input field at fault, when there is one. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const invalid = (field: string, message: string) => new DomainError('invalid', message, field);
export const forbidden = (message: string) => new DomainError('forbidden', message);
