import path from 'node:path';
import { z } from 'zod';

/**
 * Every environment variable the application reads, parsed once at start.
 * A bad value stops the process with a message naming the variable and what it should be.
 * The README's configuration table mirrors this list.
 */
const intFrom = (min: number) => z.coerce.number().int().min(min);

const envSchema = z.object({
  /** Postgres connection string. Unset: an embedded Postgres (PGlite) with its data in DATA_DIR. */
  DATABASE_URL: z.string().url().optional(),
  /** Redis connection string. Unset: redis://127.0.0.1:6379, or a private redis-server started in DATA_DIR. */
  REDIS_URL: z.string().url().optional(),
  /** Folder for attachments, the embedded database and a private Redis. */
  DATA_DIR: z.string().min(1).default('./data'),
  /** HTTP port of the web process. */
  PORT: intFrom(0).max(65535).default(3000),
  /** Address the web process listens on. */
  HOST: z.string().min(1).default('0.0.0.0'),
  /** Prefix of every BullMQ key; lets several installs (or test files) share one Redis. */
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only').default('helpdesk'),
  /** How many intake jobs one worker process runs at once. */
  INTAKE_CONCURRENCY: intFrom(1).default(32),
  /** How many notification jobs one worker process runs at once. */
  NOTIFY_CONCURRENCY: intFrom(1).default(8),
  /** How long (ms) an API request waits for its intake job to commit before answering 202. */
  INTAKE_WAIT_MS: intFrom(0).default(2000),
  /** How many times an intake or notification job is tried before it is failed for good. */
  JOB_ATTEMPTS: intFrom(1).default(12),
  /** First retry delay (ms); it doubles on each attempt, capped at JOB_BACKOFF_MAX_MS. */
  JOB_BACKOFF_MS: intFrom(1).default(500),
  /** Longest retry delay (ms). */
  JOB_BACKOFF_MAX_MS: intFrom(1).default(60_000),
  /** How long (ms) a worker holds a job's lock; a worker that died loses its jobs to others after this. */
  JOB_LOCK_MS: intFrom(1000).default(30_000),
  /** Largest attachment accepted, in bytes. */
  ATTACHMENT_MAX_BYTES: intFrom(1).default(25 * 1024 * 1024),
  /** Most files in one request. */
  ATTACHMENT_MAX_FILES: intFrom(1).default(20),
  /** Largest JSON body accepted, in bytes. */
  JSON_MAX_BYTES: intFrom(1024).default(1024 * 1024),
  /** Size of the Postgres connection pool of one process. */
  DB_POOL_SIZE: intFrom(1).default(20),
  /** Log level: fatal, error, warn, info, debug, trace or silent. */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** How long (ms) graceful shutdown waits for running jobs and requests before it exits anyway. */
  SHUTDOWN_TIMEOUT_MS: intFrom(0).default(15_000),
});

export interface Config {
  readonly databaseUrl: string | undefined;
  readonly redisUrl: string;
  /** True when REDIS_URL was not set, so a private redis-server may be started. */
  readonly redisIsDefault: boolean;
  readonly dataDir: string;
  readonly port: number;
  readonly host: string;
  readonly queuePrefix: string;
  readonly intakeConcurrency: number;
  readonly notifyConcurrency: number;
  readonly intakeWaitMs: number;
  readonly jobAttempts: number;
  readonly jobBackoffMs: number;
  readonly jobBackoffMaxMs: number;
  readonly jobLockMs: number;
  readonly attachmentMaxBytes: number;
  readonly attachmentMaxFiles: number;
  readonly jsonMaxBytes: number;
  readonly dbPoolSize: number;
  readonly logLevel: string;
  readonly shutdownTimeoutMs: number;
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message} (got ${JSON.stringify(cleaned[String(i.path[0])])})`);
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  return Object.freeze({
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL ?? 'redis://127.0.0.1:6379',
    redisIsDefault: e.REDIS_URL === undefined,
    dataDir: path.resolve(e.DATA_DIR),
    port: e.PORT,
    host: e.HOST,
    queuePrefix: e.QUEUE_PREFIX,
    intakeConcurrency: e.INTAKE_CONCURRENCY,
    notifyConcurrency: e.NOTIFY_CONCURRENCY,
    intakeWaitMs: e.INTAKE_WAIT_MS,
    jobAttempts: e.JOB_ATTEMPTS,
    jobBackoffMs: e.JOB_BACKOFF_MS,
    jobBackoffMaxMs: e.JOB_BACKOFF_MAX_MS,
    jobLockMs: e.JOB_LOCK_MS,
    attachmentMaxBytes: e.ATTACHMENT_MAX_BYTES,
    attachmentMaxFiles: e.ATTACHMENT_MAX_FILES,
    jsonMaxBytes: e.JSON_MAX_BYTES,
    dbPoolSize: e.DB_POOL_SIZE,
    logLevel: e.LOG_LEVEL,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
  });
}
