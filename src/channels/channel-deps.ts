import type { MikroORM } from '@mikro-orm/postgresql';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import type { IntakeEventInput } from '../core/intake-event.ts';
import type { AttachmentStorage } from '../core/ports.ts';
import type { SubmitResult } from '../workers/intake-producer.ts';
import type { NotificationSenders } from '../workers/notification-senders.ts';

/** What a channel running in a worker process is given: the same for every channel, plus its own queues. */
export interface ChannelWorkerDeps {
  config: Config;
  orm: MikroORM;
  /** Commands (locks, leases, progress). */
  redis: Redis;
  /** A connection of its own for the workers' blocking reads. */
  workerConnection: Redis;
  logger: Logger;
  storage: AttachmentStorage;
  /** Key material for sealed tokens (APP_SECRET, or the one kept in DATA_DIR). */
  secret: string;
  /** Where the channel registers its notification sender, or listens for settled notifications. */
  senders: NotificationSenders;
  /** Hands an intake event to the intake queue and waits for its commit. */
  submit: (event: IntakeEventInput) => Promise<SubmitResult>;
}
