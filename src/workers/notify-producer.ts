import type { Queue } from 'bullmq';
import type { Config } from '../config/index.ts';
import { notifyJobId, type NotifyJobData } from './queues.ts';
import { jobOptions } from './retry-policy.ts';

/**
 * Queues delivery of notifications already committed to the database. A failure here loses nothing: the
 * notification stays `pending` and the sweeper queues it again.
 */
export async function enqueueNotifications(queue: Queue<NotifyJobData>, config: Config, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await queue.addBulk(ids.map((id) => ({
    name: 'notify',
    data: { notificationId: id },
    opts: { ...jobOptions(config), jobId: notifyJobId(id) },
  })));
}
