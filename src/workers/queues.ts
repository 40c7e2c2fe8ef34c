import { createHash } from 'node:crypto';
import type { IntakeEvent, IntakeOutcome } from '../core/intake-event.ts';

/** The queues, in one place. Every channel feeds INTAKE; NOTIFY carries what goes back out. */
export const QUEUES = { intake: 'intake', notify: 'notify' } as const;

export interface IntakeJobData { event: IntakeEvent }
export type IntakeJobResult = IntakeOutcome;

export interface NotifyJobData { notificationId: string }

/**
 * The intake job id: derived from the idempotency key, so that the same event enqueued twice while the
 * first job is kept in Redis is one job. BullMQ forbids ':' in custom ids; a hash has none.
 */
export function intakeJobId(organizationId: string, channel: string, externalId: string): string {
  const digest = createHash('sha256').update(`${organizationId}\u0000${channel}\u0000${externalId}`).digest('hex');
  return `in-${digest.slice(0, 40)}`;
}

export function notifyJobId(notificationId: string): string {
  return `nt-${notificationId}`;
}

/** Redis pub/sub channel on which a revoked API key's id is announced to every web process. */
export function apiKeyRevokedChannel(queuePrefix: string): string {
  return `${queuePrefix}:apikey-revoked`;
}
