import { UnrecoverableError, Worker, type Job, type Queue } from 'bullmq';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { intakeEventSchema } from '../core/intake-event.ts';
import { IntakeService } from '../core/intake.ts';
import { SqlIntakeStore } from '../persistence/intake-store.ts';
import { enqueueNotifications } from './notify-producer.ts';
import { QUEUES, type IntakeJobData, type IntakeJobResult, type NotifyJobData } from './queues.ts';
import { rethrowByPolicy, workerOptions } from './retry-policy.ts';

export interface IntakeWorkerDeps {
  config: Config;
  orm: MikroORM;
  logger: Logger;
  connection: Redis;
  notifyQueue: Queue<NotifyJobData>;
}

/** Runs intake jobs: each intake event becomes a ticket or a message, once, in one transaction. */
export function startIntakeWorker({ config, orm, logger, connection, notifyQueue }: IntakeWorkerDeps): Worker<IntakeJobData, IntakeJobResult> {
  const intake = new IntakeService(new SqlIntakeStore(orm));
  const log = logger.child({ worker: QUEUES.intake });

  const worker: Worker<IntakeJobData, IntakeJobResult> = new Worker<IntakeJobData, IntakeJobResult>(
    QUEUES.intake,
    async (job: Job<IntakeJobData, IntakeJobResult>) => {
      const parsed = intakeEventSchema.safeParse(job.data.event);
      if (!parsed.success) {
        throw new UnrecoverableError(`invalid intake event: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      }
      try {
        const outcome = await intake.process(parsed.data);
        await enqueueNotifications(notifyQueue, config, outcome.notificationIds).catch((err) =>
          log.warn({ jobId: job.id, err: String(err) }, 'could not queue notifications; the sweeper will'));
        return outcome;
      } catch (err) {
        return rethrowByPolicy(err, config, worker, (pauseMs) => log.warn({ jobId: job.id, err: String(err), pauseMs }, 'pausing intake'));
      }
    },
    workerOptions(config, connection, config.intakeConcurrency),
  );
  worker.on('failed', (job, err) => {
    if (!job) return;
    const final = job.attemptsMade >= (job.opts.attempts ?? 1) || err instanceof UnrecoverableError || err.name === 'UnrecoverableError';
    log[final ? 'error' : 'warn']({ jobId: job.id, attempt: job.attemptsMade, final, reason: err.message }, final ? 'intake job failed for good' : 'intake job failed; will retry');
  });
  worker.on('error', (err) => log.error({ err: String(err) }, 'intake worker error'));
  return worker;
}
