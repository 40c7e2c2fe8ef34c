import { createHash } from 'node:crypto';
import type { JobsOptions, Queue } from 'bullmq';
import type { Config } from '../../config/index.ts';
import { jobOptions } from '../../workers/retry-policy.ts';

/**
 * Two queues: what Slack sent us (acknowledged at once by the web process, handled by a worker), and what we
 * post to Slack (paced per channel). A slow channel never delays an agent's reply on its way to a reporter.
 */
export const SLACK_INBOUND = 'slack-inbound';
export const SLACK_OUTBOUND = 'slack-outbound';

export type SlackPayload = Record<string, unknown>;

export interface SlackInboundJob {
  teamId: string;
  /** The organization the team belonged to when Slack sent this (absent in jobs queued before it was recorded). */
  organizationId?: string;
  kind: 'message' | 'action' | 'command' | 'view' | 'shortcut';
  payload: SlackPayload;
}

export type SlackOutboundJob =
  /** Bring the ticket's message and thread up to date. */
  | { kind: 'sync'; organizationId: string; ticketId: string }
  /** Show in the thread what became of a reply taken from it. */
  | { kind: 'outcome'; messageId: string };

/** Job ids from what Slack sends: the same event (a retry, a second delivery) is one job. */
export function inboundJobId(kind: SlackInboundJob['kind'], key: string): string {
  return `sl-${kind}-${createHash('sha256').update(key).digest('hex').slice(0, 40)}`;
}

export async function enqueueInbound(queue: Queue<SlackInboundJob>, config: Config, job: SlackInboundJob, key: string): Promise<void> {
  await queue.add(job.kind, job, { ...jobOptions(config), jobId: inboundJobId(job.kind, key) });
}

/**
 * A sync per ticket change (`version`: when the ticket changed): the same change seen twice is one job, a
 * later change is another.
 */
export async function enqueueSync(queue: Queue<SlackOutboundJob>, config: Config, items: Array<{ organizationId: string; ticketId: string; version: string }>): Promise<void> {
  if (items.length === 0) return;
  await queue.addBulk(items.map((i) => ({
    name: 'sync',
    data: { kind: 'sync' as const, organizationId: i.organizationId, ticketId: i.ticketId },
    opts: { ...outboundOptions(config), jobId: `sl-sync-${i.ticketId}-${createHash('sha256').update(i.version).digest('hex').slice(0, 16)}` },
  })));
}

export async function enqueueOutcome(queue: Queue<SlackOutboundJob>, config: Config, messageId: string, attempt: string): Promise<void> {
  await queue.add('outcome', { kind: 'outcome', messageId }, { ...outboundOptions(config), jobId: `sl-outcome-${messageId}-${attempt}` });
}

/** Posts are kept for a day when they fail for good: the ticket records the failure, the job the details. */
function outboundOptions(config: Config): JobsOptions {
  return { ...jobOptions(config), removeOnComplete: { age: 600, count: 10_000 } };
}
