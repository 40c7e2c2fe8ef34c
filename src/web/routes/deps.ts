import type { MikroORM } from '@mikro-orm/postgresql';
import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { Config } from '../../config/index.ts';
import type { AttachmentStorage } from '../../core/ports.ts';
import type { ApiKeys } from '../../persistence/api-keys.ts';
import type { SqlIntakeStore } from '../../persistence/intake-store.ts';
import type { TicketQueries } from '../../persistence/ticket-queries.ts';
import type { TicketUpdateStore } from '../../persistence/ticket-update-store.ts';
import type { IntakeProducer } from '../../workers/intake-producer.ts';
import type { NotifyJobData } from '../../workers/queues.ts';

/** What the API routes need; built once by the app factory. */
export interface ApiDeps {
  config: Config;
  logger: Logger;
  orm: MikroORM;
  storage: AttachmentStorage;
  producer: IntakeProducer;
  notifyQueue: Queue<NotifyJobData>;
  keys: ApiKeys;
  queries: TicketQueries;
  updates: TicketUpdateStore;
  intakeStore: SqlIntakeStore;
  /** Key material for sealed secrets (mailbox passwords) and signatures. */
  secret: string;
}
