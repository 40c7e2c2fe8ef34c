import { UnrecoverableError, Worker, type JobsOptions, type WorkerOptions } from 'bullmq';
import { ZodError } from 'zod';
import type { Redis } from 'ioredis';
import type { Config } from '../config/index.ts';
import { DomainError } from '../core/errors.ts';
import { DeliveryError } from '../core/ports.ts';

/**
 * How jobs are retried, in one place. Failures that another try cannot fix fail at once (the processors
 * throw UnrecoverableError); an unreachable database pauses the whole queue instead of spending attempts;
 * anything else is retried with capped exponential backoff and full jitter.
 */
export function jobOptions(config: Config): JobsOptions {
  return {
    attempts: config.jobAttempts,
    backoff: { type: 'capped' },
    // Kept (up to an hour, at most the last 50 000) so that BullMQ recognizes a repeated enqueue of the same
    // id; beyond that the database receipt is what refuses the duplicate.
    removeOnComplete: { age: 3600, count: 50_000 },
    // Failed jobs stay for inspection and replay (`npm run cli -- jobs failed`), for 30 days.
    removeOnFail: { age: 30 * 24 * 3600 },
  };
}

export function backoffDelay(config: Config, attemptsMade: number): number {
  const ceiling = Math.min(config.jobBackoffMaxMs, config.jobBackoffMs * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** How long the queue pauses when the database cannot be reached. */
export const DATABASE_PAUSE_MS = 2000;

/**
 * The pause, kept under the job lock: measured with BullMQ 6.7, a pause as long as the lock (JOB_LOCK_MS=2000)
 * lets jobs the worker already fetched lose their lock while it waits, so they count as stalled, and after
 * `maxStalledCount` stalls a long outage fails them for good.
 */
export function databasePauseMs(config: Pick<Config, 'jobLockMs'>): number {
  return Math.min(DATABASE_PAUSE_MS, Math.floor(config.jobLockMs / 2));
}

/** Errors that mean "the database is not there right now", as opposed to "this job is wrong". */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string; name?: string } | null;
  if (!e) return false;
  const codes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004', '53300']);
  if (e.code && codes.has(e.code)) return true;
  const message = e.message ?? '';
  return /Connection terminated|connect ECONNREFUSED|Knex: Timeout acquiring a connection|the database system is (starting up|shutting down)|Client has encountered a connection error|terminating connection/i.test(message);
}

/**
 * Errors in the data itself (SQLSTATE class 22, data exception) or against a constraint (class 23), which
 * another try cannot fix. A unique violation is the exception: it is how concurrent duplicates meet, and the
 * retry finds the first one's result.
 */
export function isPermanentDatabaseError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code) && code !== '23505';
}

/** The failed-job reason for such an error: what a client may read first, the database's words after. */
export function permanentDatabaseReason(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return `invalid: The data was refused by the database (SQLSTATE ${e.code}). [${e.message ?? ''}]`;
}

export type RetryDecision =
  | { action: 'fail'; reason: string }
  | { action: 'pause'; ms: number }
  | { action: 'retry' };

/**
 * What a worker does with an error: fail the job for good (a rule was broken, the data is refused), pause
 * the whole queue without spending attempts (the database is away, a channel asks to slow down), or retry
 * the job with backoff. Pauses stay under half the job lock, so that jobs already fetched do not stall.
 */
export function retryDecision(err: unknown, config: Pick<Config, 'jobLockMs'>): RetryDecision {
  if (err instanceof DomainError) return { action: 'fail', reason: `${err.kind}: ${err.message}` };
  if (err instanceof ZodError) return { action: 'fail', reason: `invalid: ${describeZodError(err)}` };
  if (isPermanentDatabaseError(err)) return { action: 'fail', reason: permanentDatabaseReason(err) };
  if (isDatabaseUnavailable(err)) return { action: 'pause', ms: databasePauseMs(config) };
  if (err instanceof DeliveryError && err.reason === 'rate_limited' && err.retryAfterMs) {
    return { action: 'pause', ms: Math.min(err.retryAfterMs, Math.floor(config.jobLockMs / 2)) };
  }
  return { action: 'retry' };
}

/** The first thing a schema refused, as "field: what is wrong". */
export function describeZodError(err: ZodError): string {
  const issue = err.issues[0];
  const field = issue?.path.join('.') ?? '';
  return field ? `${field}: ${issue?.message}` : (issue?.message ?? 'invalid input');
}

/** Throws what makes BullMQ carry out the decision for `err`: fail for good, pause the queue, or retry. */
export async function rethrowByPolicy(err: unknown, config: Pick<Config, 'jobLockMs'>, worker: Worker, onPause?: (ms: number) => void): Promise<never> {
  const decision = retryDecision(err, config);
  if (decision.action === 'fail') throw new UnrecoverableError(decision.reason);
  if (decision.action === 'pause') {
    onPause?.(decision.ms);
    await worker.rateLimit(decision.ms);
    throw Worker.RateLimitError();
  }
  throw err;
}

/** The options every worker runs with: locks, stall detection and the backoff above. */
export function workerOptions(config: Config, connection: Redis, concurrency: number): WorkerOptions {
  return {
    connection,
    prefix: config.queuePrefix,
    concurrency,
    lockDuration: config.jobLockMs,
    stalledInterval: Math.max(1000, Math.floor(config.jobLockMs / 2)),
    maxStalledCount: 3,
    settings: { backoffStrategy: (attemptsMade: number) => backoffDelay(config, attemptsMade) },
  };
}
