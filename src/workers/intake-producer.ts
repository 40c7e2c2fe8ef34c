import { Job, type Queue, type QueueEvents } from 'bullmq';
import type { Config } from '../config/index.ts';
import { intakeEventSchema, type IntakeEventInput, type IntakeOutcome } from '../core/intake-event.ts';
import { intakeJobId, type IntakeJobData, type IntakeJobResult } from './queues.ts';
import { jobOptions } from './retry-policy.ts';

/** Redis cannot take the job right now; nothing was acknowledged. */
export class QueueUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`The intake queue is unavailable (${String((cause as Error)?.message ?? cause)}); try again shortly.`);
    this.name = 'QueueUnavailableError';
  }
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
    try {
      return await this.queue.add('intake', { event }, { ...jobOptions(this.config), jobId });
    } catch (err) {
      throw new QueueUnavailableError(err);
    }
  }

  async submitAndWait(input: IntakeEventInput, waitMs: number): Promise<SubmitResult> {
    const job = await this.submit(input);
    const jobId = job.id!;
    if (waitMs <= 0) return { state: 'pending', jobId };
    try {
      const outcome = (await job.waitUntilFinished(this.events, waitMs)) as IntakeOutcome | string;
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
