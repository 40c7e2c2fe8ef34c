import path from 'node:path';
import { z } from 'zod';
import { LOCALES, type Locale } from '../core/vocabulary.ts';

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
  /**
   * Key material for stored secrets (mailbox passwords) and signed links. Unset: a random one is made once
   * and kept in DATA_DIR/secret; processes on several machines must share one value.
   */
  APP_SECRET: z.string().min(16, 'at least 16 characters').optional(),
  /** Behind a reverse proxy: take the client's address and scheme from X-Forwarded-For / -Proto. */
  TRUST_PROXY: z.enum(['true', 'false']).default('false'),
  /** The address people reach the web app at; links in notifications start with it. */
  PUBLIC_URL: z.string().url().default('http://localhost:3000'),
  /** How long (ms) a signed link to a ticket page stays valid. */
  TICKET_LINK_TTL_MS: intFrom(60_000).default(30 * 24 * 3600 * 1000),
  /** Environment-defined mailbox for a one-organization install: IMAP URL, e.g. imaps://user:pass@host:993. */
  MAIL_IMAP_URL: z.string().url().optional(),
  /** SMTP URL of that mailbox, e.g. smtps://user:pass@host:465 or smtp://host:587. */
  MAIL_SMTP_URL: z.string().url().optional(),
  /** The address reporters write to (and replies come from). */
  MAIL_ADDRESS: z.string().email().optional(),
  /** Slug of the organization the environment-defined mailbox belongs to. */
  MAIL_ORGANIZATION: z.string().min(1).optional(),
  /** Replies carry the ticket in the address (support+t.<token>@...) when the mail server delivers those. */
  MAIL_PLUS_ADDRESSING: z.enum(['true', 'false']).default('false'),
  /** How often (ms) a mailbox without IMAP IDLE is polled; also the longest an IDLE session waits. */
  MAIL_POLL_MS: intFrom(1000).default(60_000),
  /** A reply to a closed ticket reopens it within this many days; later it opens a new, linked ticket. */
  MAIL_REOPEN_DAYS: intFrom(0).default(7),
  /** More mails than this from one address within a minute are held instead of becoming tickets. */
  MAIL_SENDER_LIMIT_PER_MINUTE: intFrom(1).default(10),
  /** Root of the Telegram Bot API; point it at a self-hosted Bot API server if you run one. */
  TELEGRAM_API_ROOT: z.string().url().default('https://api.telegram.org'),
  /** Environment-defined bot for a one-organization install: its token from @BotFather. */
  TELEGRAM_BOT_TOKEN: z.string().regex(/^\d+:[A-Za-z0-9_-]{20,}$/, 'a token like 123456:ABC-... from @BotFather').optional(),
  /** Slug of the organization the environment-defined bot belongs to. */
  TELEGRAM_ORGANIZATION: z.string().min(1).optional(),
  /** How that bot receives updates: webhook (needs PUBLIC_URL reachable over HTTPS by Telegram) or polling. */
  TELEGRAM_MODE: z.enum(['webhook', 'polling']).default('polling'),
  /** Telegram updates one worker process handles at once (one chat's always one after another). */
  TELEGRAM_CONCURRENCY: intFrom(1).default(32),
  /** Messages a reporter sends within this many ms of opening a ticket join it instead of asking. */
  TELEGRAM_JOIN_WINDOW_MS: intFrom(0).default(120_000),
  /** Slack's Web API; tests (or a proxy) point it elsewhere. */
  SLACK_API_URL: z.string().url().default('https://slack.com/api/'),
  /** A workspace for a one-organization install: bot token, signing secret, organization and triage channel together. */
  SLACK_BOT_TOKEN: z.string().regex(/^xoxb-[A-Za-z0-9-]+$/, 'a bot token like xoxb-...').optional(),
  SLACK_SIGNING_SECRET: z.string().regex(/^[0-9a-f]{16,64}$/i, "the app's signing secret (hex, from Basic Information)").optional(),
  SLACK_ORGANIZATION: z.string().min(1).optional(),
  SLACK_TRIAGE_CHANNEL: z.string().regex(/^[CG][A-Z0-9]{2,}$/, 'a channel id like C0123ABCD (not its name)').optional(),
  /** Thread replies that start with one of these (comma-separated) are internal notes. */
  SLACK_NOTE_MARKERS: z.string().default('note:,//')
    .refine((v) => v.split(',').some((m) => m.trim().length > 0), 'at least one marker, like note:,// (without one, notes would reach customers)'),
  /** The language the Slack app speaks to agents in (en, ru, de), for workspaces added without --language. */
  SLACK_LANGUAGE: z.enum(LOCALES).default('en'),
  /** Least time between two posts into one Slack channel (Slack allows about one message a second). */
  SLACK_CHANNEL_INTERVAL_MS: intFrom(0).default(1000),
  /** Slack jobs (events, posts) one worker process handles at once. */
  SLACK_CONCURRENCY: intFrom(1).default(8),
  /** How often the worker looks for tickets whose Slack message is out of date. */
  SLACK_SYNC_POLL_MS: intFrom(50).default(1000),
  /** Mails one mailbox reader takes at once (mails of one sender always in order). */
  MAIL_CONCURRENCY: intFrom(1).default(8),
  /** Largest mail (in bytes) read from a mailbox; a bigger one is kept as failed for an admin to look at. */
  MAIL_MAX_BYTES: intFrom(1024).default(60 * 1024 * 1024),
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
  readonly appSecret: string | undefined;
  readonly publicUrl: string;
  readonly trustProxy: boolean;
  readonly ticketLinkTtlMs: number;
  readonly telegram: {
    readonly apiRoot: string;
    readonly botToken: string | undefined;
    readonly organization: string | undefined;
    readonly mode: 'webhook' | 'polling';
    readonly joinWindowMs: number;
    readonly concurrency: number;
  };
  readonly slack: {
    readonly apiUrl: string;
    readonly botToken: string | undefined;
    readonly signingSecret: string | undefined;
    readonly organization: string | undefined;
    readonly triageChannel: string | undefined;
    readonly noteMarkers: readonly string[];
    readonly language: Locale;
    readonly channelIntervalMs: number;
    readonly concurrency: number;
    readonly syncPollMs: number;
  };
  readonly mail: {
    readonly imapUrl: string | undefined;
    readonly smtpUrl: string | undefined;
    readonly address: string | undefined;
    readonly organization: string | undefined;
    readonly plusAddressing: boolean;
    readonly pollMs: number;
    readonly reopenDays: number;
    readonly senderLimitPerMinute: number;
    readonly maxBytes: number;
    readonly concurrency: number;
  };
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
  if ((e.TELEGRAM_BOT_TOKEN === undefined) !== (e.TELEGRAM_ORGANIZATION === undefined)) {
    throw new ConfigError('Invalid configuration:\n  TELEGRAM_BOT_TOKEN and TELEGRAM_ORGANIZATION define a bot together: set both or neither.');
  }
  const slackVars = [e.SLACK_BOT_TOKEN, e.SLACK_SIGNING_SECRET, e.SLACK_ORGANIZATION, e.SLACK_TRIAGE_CHANNEL];
  if (slackVars.some((v) => v !== undefined) && slackVars.some((v) => v === undefined)) {
    throw new ConfigError('Invalid configuration:\n  SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_ORGANIZATION and SLACK_TRIAGE_CHANNEL define a workspace together: set all four or none.');
  }
  const mailVars = [e.MAIL_IMAP_URL, e.MAIL_SMTP_URL, e.MAIL_ADDRESS, e.MAIL_ORGANIZATION];
  if (mailVars.some((v) => v !== undefined) && mailVars.some((v) => v === undefined)) {
    throw new ConfigError('Invalid configuration:\n  MAIL_IMAP_URL, MAIL_SMTP_URL, MAIL_ADDRESS and MAIL_ORGANIZATION define a mailbox together: set all four or none.');
  }
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
    appSecret: e.APP_SECRET,
    publicUrl: e.PUBLIC_URL.replace(/\/+$/, ''),
    trustProxy: e.TRUST_PROXY === 'true',
    ticketLinkTtlMs: e.TICKET_LINK_TTL_MS,
    telegram: Object.freeze({
      apiRoot: e.TELEGRAM_API_ROOT.replace(/\/+$/, ''),
      botToken: e.TELEGRAM_BOT_TOKEN,
      organization: e.TELEGRAM_ORGANIZATION,
      mode: e.TELEGRAM_MODE,
      joinWindowMs: e.TELEGRAM_JOIN_WINDOW_MS,
      concurrency: e.TELEGRAM_CONCURRENCY,
    }),
    slack: Object.freeze({
      apiUrl: e.SLACK_API_URL.endsWith('/') ? e.SLACK_API_URL : `${e.SLACK_API_URL}/`,
      botToken: e.SLACK_BOT_TOKEN,
      signingSecret: e.SLACK_SIGNING_SECRET,
      organization: e.SLACK_ORGANIZATION,
      triageChannel: e.SLACK_TRIAGE_CHANNEL,
      noteMarkers: Object.freeze(e.SLACK_NOTE_MARKERS.split(',').map((m) => m.trim()).filter((m) => m.length > 0)),
      language: e.SLACK_LANGUAGE,
      channelIntervalMs: e.SLACK_CHANNEL_INTERVAL_MS,
      concurrency: e.SLACK_CONCURRENCY,
      syncPollMs: e.SLACK_SYNC_POLL_MS,
    }),
    mail: Object.freeze({
      imapUrl: e.MAIL_IMAP_URL,
      smtpUrl: e.MAIL_SMTP_URL,
      address: e.MAIL_ADDRESS,
      organization: e.MAIL_ORGANIZATION,
      plusAddressing: e.MAIL_PLUS_ADDRESSING === 'true',
      pollMs: e.MAIL_POLL_MS,
      reopenDays: e.MAIL_REOPEN_DAYS,
      senderLimitPerMinute: e.MAIL_SENDER_LIMIT_PER_MINUTE,
      maxBytes: e.MAIL_MAX_BYTES,
      concurrency: e.MAIL_CONCURRENCY,
    }),
  });
}
