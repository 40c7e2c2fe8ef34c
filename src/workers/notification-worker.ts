import { DelayedError, UnrecoverableError, Worker, type Job, type Queue } from 'bullmq';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { routeNotification } from '../core/notifications.ts';
import { DeliveryError } from '../core/ports.ts';
import { NotificationStore } from '../persistence/notification-store.ts';
import type { NotificationSenders } from './notification-senders.ts';
import { enqueueNotifications } from './notify-producer.ts';
import { QUEUES, type NotifyJobData } from './queues.ts';
import { rethrowByPolicy, workerOptions } from './retry-policy.ts';

export interface NotificationWorkerDeps {
  config: Config;
  orm: MikroORM;
  logger: Logger;
  connection: Redis;
  senders: NotificationSenders;
}

/**
 * Delivers notifications: the recipient's preferred channel first, then their other identities. With no
 * sender able to reach the recipient the notification is kept as `recorded`.
 */
export function startNotificationWorker({ config, orm, logger, connection, senders }: NotificationWorkerDeps): Worker<NotifyJobData> {
  const store = new NotificationStore(orm);
  const log = logger.child({ worker: QUEUES.notify });

  const deliver = async (job: Job<NotifyJobData>): Promise<string> => {
    const n = await store.load(job.data.notificationId);
    if (!n) throw new UnrecoverableError(`notification ${job.data.notificationId} does not exist`);
    if (n.status !== 'pending') return n.status;
    const route = routeNotification(n.addresses, n.preferredKind, senders.has);
    const settled = async (status: 'sent' | 'recorded' | 'failed') => {
      await senders.settled({ notification: n, status }, (err) => log.warn({ notificationId: n.id, err: String(err) }, 'a listener of settled notifications failed'));
      return status;
    };
    if (route.length === 0) {
      await store.finish(n.id, 'recorded', { error: 'no channel can deliver to this recipient yet' });
      return settled('recorded');
    }
    const problems: string[] = [];
    let unavailableOnly = true;
    for (const to of route) {
      const sender = senders.get(to.kind)!;
      try {
        await sender.send(n, to.address);
        await store.finish(n.id, 'sent', { kind: to.kind, address: to.address });
        return settled('sent');
      } catch (err) {
        if (err instanceof DeliveryError && err.reason === 'unavailable') {
          problems.push(`${to.kind}: ${err.message}`);
          continue;
        }
        if (err instanceof DeliveryError && err.reason === 'undeliverable') {
          unavailableOnly = false;
          problems.push(`${to.kind}: ${err.message}`);
          if (to.identityId) await store.markUndeliverable(to.identityId, err.message, n.id);
          continue;
        }
        await store.noteAttempt(n.id, `${to.kind}: ${String((err as Error).message ?? err)}`);
        throw err;
      }
    }
    // Nothing refused it; no channel could send it yet (e.g. no mailbox configured): kept, as with no sender.
    const outcome = unavailableOnly ? 'recorded' : 'failed';
    await store.finish(n.id, outcome, { error: problems.join('; ') });
    return settled(outcome);
  };

  const worker: Worker<NotifyJobData> = new Worker<NotifyJobData>(
    QUEUES.notify,
    async (job, token) => {
      try {
        return await deliver(job);
      } catch (err) {
        if (err instanceof DeliveryError && err.reason === 'rate_limited' && err.retryAfterMs) {
          // The channel said when to come back: this job waits (delayed, not a sleeping worker); others go on.
          await job.moveToDelayed(Date.now() + err.retryAfterMs, token);
          throw new DelayedError();
        }
        return rethrowByPolicy(err, config, worker);
      }
    },
    workerOptions(config, connection, config.notifyConcurrency),
  );
  worker.on('failed', (job, err) => {
    if (!job || err.name === 'DelayedError') return;
    const final = job.attemptsMade >= (job.opts.attempts ?? 1) || err.name === 'UnrecoverableError';
    log.warn({ jobId: job.id, attempt: job.attemptsMade, final, reason: err.message }, 'notification job failed');
    // Settled here, so that the sweeper does not keep offering a job BullMQ keeps as failed.
    if (final) {
      void (async () => {
        await store.giveUp(job.data.notificationId, err.message);
        const n = await store.load(job.data.notificationId);
        if (n) await senders.settled({ notification: n, status: 'failed' }, (e) => log.warn({ err: String(e) }, 'a listener of settled notifications failed'));
      })().catch((e) => log.warn({ err: String(e) }, 'could not mark notification failed'));
    }
  });
  worker.on('error', (err) => log.error({ err: String(err) }, 'notification worker error'));
  return worker;
}

/**
 * Re-enqueues notifications whose job never made it to Redis (a crash between commit and enqueue).
 * The job id is the notification id, so a notification already queued is not queued twice.
 */
export function startNotificationSweeper(deps: { config: Config; orm: MikroORM; logger: Logger; queue: Queue<NotifyJobData>; everyMs?: number }): () => void {
  const store = new NotificationStore(deps.orm);
  const everyMs = deps.everyMs ?? 60_000;
  const timer = setInterval(() => {
    void (async () => {
      const ids = await store.stale(everyMs);
      if (ids.length === 0) return;
      await enqueueNotifications(deps.queue, deps.config, ids);
      deps.logger.info({ count: ids.length }, 're-enqueued pending notifications');
    })().catch((err) => deps.logger.warn({ err: String(err) }, 'notification sweep failed'));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
