import type { EventEmitter } from 'node:events';
import { Job, type Queue, type QueueEvents } from 'bullmq';
import type { Config } from '../config/index.ts';
import { intakeEventSchema, type IntakeEventInput, type IntakeOutcome } from '../core/intake-event.ts';
import { intakeJobId, type IntakeJobData, type IntakeJobResult } from './queues.ts';
import { jobOptions } from './retry-policy.ts';

/**
 * Redis cannot take the job right now. Nothing was stored, unless `inDoubt`: then the connection broke after
 * the job was sent, so Redis may hold it (and it would then be written).
 */
export class QueueUnavailableError extends Error {
  constructor(cause: unknown, readonly inDoubt = false) {
    super(`The intake queue is unavailable (${String((cause as Error)?.message ?? cause)}); try again shortly.`);
    this.name = 'QueueUnavailableError';
  }
}

/** When a waiting caller first looks at its job itself, in case it finished before the caller listened. */
const EARLY_LOOK_MS = 1000;

/** How long `submit` keeps trying to learn whether a job sent just before the connection broke was stored. */
const IN_DOUBT_RETRY_MS = 3000;

/**
 * False only when the command was certainly never written to Redis. A connection that breaks after the
 * command went out (ioredis then fails it with "Connection is closed", a timeout or the max-retries error)
 * leaves it unknown whether Redis ran it: measured here, a redis-server stopped with SIGTERM runs the last
 * commands it read, writes them to its append-only file and exits without answering them.
 */
function mayHaveReachedRedis(err: unknown): boolean {
  return !/Stream isn't writeable and enableOfflineQueue options is false/.test(String((err as Error)?.message ?? err));
}

export type SubmitResult =
  | { state: 'committed'; jobId: string; outcome: IntakeOutcome }
  | { state: 'pending'; jobId: string }
  | { state: 'failed'; jobId: string; reason: string };

/**
 * What channels hand intake events to. `submit` returns once Redis holds the job: from then on the event
 * is not lost. `submitAndWait` also waits, up to a limit, for the worker to commit it.
 */
export class IntakeProducer {
  constructor(
    private readonly queue: Queue<IntakeJobData, IntakeJobResult>,
    private readonly events: QueueEvents,
    private readonly config: Config,
  ) {
    // Every waiting request listens for its job; the default cap of 10 listeners would warn under load.
    this.queue.setMaxListeners(0);
    this.events.setMaxListeners(0);
  }

  async submit(input: IntakeEventInput): Promise<Job<IntakeJobData, IntakeJobResult>> {
    const event = intakeEventSchema.parse(input);
    const jobId = intakeJobId(event.organizationId, event.channel, event.externalId);
    const add = () => this.queue.add('intake', { event }, { ...jobOptions(this.config), jobId });
    try {
      return await add();
    } catch (err) {
      if (!mayHaveReachedRedis(err)) throw new QueueUnavailableError(err);
      // Adding the same job id again is harmless (BullMQ keeps the first, and the database receipt refuses a
      // second ticket), so try again for a moment: once Redis answers, the outcome is known.
      const deadline = Date.now() + IN_DOUBT_RETRY_MS;
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        try {
          return await add();
        } catch {
          // Still away; the job stays in doubt.
        }
      }
      throw new QueueUnavailableError(err, true);
    }
  }

  async submitAndWait(input: IntakeEventInput, waitMs: number): Promise<SubmitResult> {
    const job = await this.submit(input);
    const jobId = job.id!;
    if (waitMs <= 0) return { state: 'pending', jobId };
    try {
      const outcome = await this.waitUntilFinished(jobId, waitMs);
      return { state: 'committed', jobId, outcome: typeof outcome === 'string' ? JSON.parse(outcome) : outcome };
    } catch (err) {
      const message = String((err as Error).message ?? err);
      if (/timed out before finishing/.test(message)) return { state: 'pending', jobId };
      // A failed attempt that will be retried also lands here; only a job failed for good is final.
      const state = await this.queue.getJobState(jobId).catch(() => 'unknown');
      if (state === 'failed') return { state: 'failed', jobId, reason: message };
      return { state: 'pending', jobId };
    }
  }

  /**
   * BullMQ's `job.waitUntilFinished`, without its flaw: it checks the job from inside an async Promise
   * executor, so when Redis drops at that moment the rejection is unhandled and Node ends the process. Here
   * a failed check only leaves the answer to the events or the timer.
   */
  private waitUntilFinished(jobId: string, waitMs: number): Promise<IntakeOutcome | string> {
    // QueueEvents also emits `<event>:<jobId>`, which its typings do not list.
    const events = this.events as unknown as EventEmitter;
    const completed = `completed:${jobId}`;
    const failed = `failed:${jobId}`;
    return new Promise((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        clearTimeout(early);
        events.off(completed, onCompleted);
        events.off(failed, onFailed);
      };
      const onCompleted = (args: { returnvalue: IntakeOutcome | string }) => {
        settle();
        resolve(args.returnvalue);
      };
      const onFailed = (args: { failedReason?: string }) => {
        settle();
        reject(new Error(args.failedReason ?? 'failed'));
      };
      const look = async (): Promise<'waiting' | 'settled'> => {
        const job = await Job.fromId<IntakeJobData, IntakeJobResult>(this.queue, jobId);
        const state = job ? await job.getState() : 'unknown';
        if (state === 'completed' && job?.returnvalue) {
          settle();
          resolve(job.returnvalue);
          return 'settled';
        }
        if (state === 'failed') {
          settle();
          reject(new Error(job?.failedReason ?? 'failed'));
          return 'settled';
        }
        return 'waiting';
      };
      // Events carry the answer. The job is looked at only when none came soon (it may have finished before
      // this caller listened: a repeated job id that BullMQ still kept), and once more at the end.
      const early = setTimeout(() => void look().catch(() => undefined), Math.min(EARLY_LOOK_MS, waitMs / 2));
      const timer = setTimeout(() => {
        settle();
        look().then((r) => {
          if (r === 'waiting') reject(new Error(`Job ${jobId} timed out before finishing`));
        }, () => reject(new Error(`Job ${jobId} timed out before finishing`)));
      }, waitMs);
      events.on(completed, onCompleted);
      events.on(failed, onFailed);
    });
  }

  /** The request hash of the event a job holds, to tell a retry from a reused idempotency key. */
  async storedRequestHash(jobId: string): Promise<string | null> {
    const job = await Job.fromId<IntakeJobData, IntakeJobResult>(this.queue, jobId);
    return job?.data.event.requestHash ?? null;
  }

  /** Where a job stands, for requests answered 202. */
  async state(jobId: string): Promise<{ state: string; reason?: string; organizationId?: string; outcome?: IntakeOutcome }> {
    const job = await Job.fromId<IntakeJobData, IntakeJobResult>(this.queue, jobId);
    if (!job) return { state: 'unknown' };
    const state = await job.getState();
    return {
      state,
      organizationId: job.data.event.organizationId,
      ...(job.failedReason ? { reason: job.failedReason } : {}),
      ...(state === 'completed' && job.returnvalue ? { outcome: job.returnvalue } : {}),
    };
  }
}
