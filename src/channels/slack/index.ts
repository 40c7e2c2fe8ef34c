import { DelayedError, UnrecoverableError, Worker, type Job, type Queue } from 'bullmq';
import type { Logger } from 'pino';
import { DeliveryError } from '../../core/ports.ts';
import { DomainError } from '../../core/errors.ts';
import type { Locale } from '../../core/vocabulary.ts';
import { SlackStore, type WorkspaceConfig } from '../../persistence/slack-store.ts';
import { TicketUpdateStore } from '../../persistence/ticket-update-store.ts';
import { SecretBox } from '../../security/secret-box.ts';
import { every } from '../../workers/every.ts';
import { Lease } from '../../workers/lease.ts';
import { rethrowByPolicy, workerOptions } from '../../workers/retry-policy.ts';
import { enqueueNotifications } from '../../workers/notify-producer.ts';
import type { NotifyJobData } from '../../workers/queues.ts';
import { SlackInbound } from './inbound.ts';
import { SlackOutbound, TicketBusy } from './outbound.ts';
import { SLACK_INBOUND, SLACK_OUTBOUND, enqueueOutcome, enqueueSync, type SlackInboundJob, type SlackOutboundJob } from './queues.ts';
import { SlackRefusal, slackClient } from './web-api.ts';
import type { ChannelWorkerDeps } from '../channel-deps.ts';

export interface SlackChannelDeps extends ChannelWorkerDeps {
  inboundQueue: Queue<SlackInboundJob>;
  outboundQueue: Queue<SlackOutboundJob>;
  notifyQueue: Queue<NotifyJobData>;
}

export interface SlackChannel { stop(): Promise<void> }

const FEED_LEASE_MS = 15_000;
/** Ticket changes are read again for this long: a transaction stamps its time when it starts, not when it commits. */
const FEED_MARGIN_MS = 5_000;

/**
 * The Slack channel of a worker process: handles what Slack sent (queued by the web process), keeps every
 * ticket's Slack message and thread in step with the ticket (one process reads the ticket feed, by lease),
 * and shows under each reply taken from Slack what became of it.
 */
export async function startSlackChannel(deps: SlackChannelDeps): Promise<SlackChannel> {
  const log = deps.logger.child({ channel: 'slack' });
  const store = new SlackStore(deps.orm, new SecretBox(deps.secret), 5_000);
  // Slack being unreachable must not keep mail and Telegram from starting: the workspace is tried again.
  let envRetry: NodeJS.Timeout | undefined;
  const defineFromEnvironment = async (): Promise<void> => {
    try {
      await defineEnvironmentWorkspace(deps, store, log);
    } catch (err) {
      if (err instanceof ConfigProblem) throw err;
      log.error({ err: String((err as Error).message ?? err) }, 'could not connect the Slack workspace of the environment; trying again in 30 s');
      envRetry = setTimeout(() => void defineFromEnvironment().catch((e) => log.error({ err: String((e as Error).message ?? e) }, 'the Slack workspace of the environment cannot be connected; fix the SLACK_* variables')), 30_000);
      envRetry.unref();
    }
  };
  await defineFromEnvironment();
  const outbound = new SlackOutbound({ config: deps.config, store, redis: deps.redis, storage: deps.storage, logger: log });
  const sync = (organizationId: string, ticketId: string) =>
    enqueueSync(deps.outboundQueue, deps.config, [{ organizationId, ticketId, version: `${Date.now()}-${Math.random().toString(36).slice(2, 8)}` }]);
  const inbound = new SlackInbound({
    config: deps.config, store, redis: deps.redis, updates: new TicketUpdateStore(deps.orm), storage: deps.storage, outbound, logger: log, submit: deps.submit,
    changed: sync,
    notify: (ids) => enqueueNotifications(deps.notifyQueue, deps.config, ids),
    noted: (messageId) => enqueueOutcome(deps.outboundQueue, deps.config, messageId, 'note'),
  });
  const unsubscribe = deps.senders.onSettled(async ({ notification: n }) => {
    if (n.kind !== 'agent_replied' || typeof n.payload.messageId !== 'string') return;
    if (!(await store.byOrganization(n.organizationId))) return;
    await enqueueOutcome(deps.outboundQueue, deps.config, n.payload.messageId, n.id);
  });

  const inboundWorker: Worker<SlackInboundJob> = new Worker<SlackInboundJob>(SLACK_INBOUND, async (job, token) => {
    try {
      return await inbound.handle(job.data);
    } catch (err) {
      return handBack(err, job, token, inboundWorker);
    }
  }, workerOptions(deps.config, deps.workerConnection, deps.config.slack.concurrency));

  const outboundWorker: Worker<SlackOutboundJob> = new Worker<SlackOutboundJob>(SLACK_OUTBOUND, async (job, token) => {
    try {
      return job.data.kind === 'sync' ? await outbound.sync(job.data.organizationId, job.data.ticketId) : await outbound.outcome(job.data.messageId);
    } catch (err) {
      return handBack(err, job, token, outboundWorker);
    }
  }, workerOptions(deps.config, deps.workerConnection, deps.config.slack.concurrency));

  const handBack = async (err: unknown, job: Job, token: string | undefined, worker: Worker): Promise<never> => {
    if (err instanceof TicketBusy) {
      // Backs off the more often it found the ticket busy (unless told when), spending no attempt.
      const busy = Number((job.data as { busy?: number }).busy ?? 0) + 1;
      await job.updateData({ ...job.data, busy });
      const wait = err.retryInMs ?? Math.min(10_000, 200 * 2 ** Math.min(busy, 6));
      await job.moveToDelayed(Date.now() + wait + Math.floor(Math.random() * 200), token);
      throw new DelayedError();
    }
    if (err instanceof DeliveryError && err.reason === 'rate_limited' && err.retryAfterMs) {
      // Slack said when to come back: the job waits as a delayed job, the worker goes on with others.
      await job.moveToDelayed(Date.now() + err.retryAfterMs, token);
      throw new DelayedError();
    }
    if (err instanceof SlackRefusal) throw new UnrecoverableError(err.message);
    return rethrowByPolicy(err, deps.config, worker);
  };

  for (const [name, worker] of [['inbound', inboundWorker], ['outbound', outboundWorker]] as const) {
    worker.on('failed', (job, err) => {
      if (!job || err.name === 'DelayedError') return;
      const final = job.attemptsMade >= (job.opts.attempts ?? 1) || err.name === 'UnrecoverableError';
      log[final ? 'error' : 'warn']({ queue: name, jobId: job.id, attempt: job.attemptsMade, final, reason: err.message }, 'slack job failed');
      // A post that never made it, after every retry, is recorded on the ticket where people look.
      const data = job.data as SlackOutboundJob;
      if (final && name === 'outbound' && data.kind === 'sync' && !(err.name === 'UnrecoverableError' && err.message.startsWith('Slack refused'))) {
        void store.recordFailure(data.organizationId, data.ticketId, `Slack: ${err.message}`).catch(() => undefined);
      }
      // Whoever acted in Slack hears that it was not done, rather than believing their reply went out.
      if (final && name === 'inbound') {
        void inbound.failed(job.data as SlackInboundJob, err.message)
          .catch((e) => log.warn({ jobId: job.id, err: String((e as Error).message ?? e) }, 'could not tell the person that their Slack request failed'));
      }
    });
    worker.on('error', (err) => log.error({ queue: name, err: String(err) }, 'slack worker error'));
  }

  // The feed: tickets changed since the cursor, read by one process at a time, each change queued once.
  const lease = new Lease(deps.redis, `${deps.config.queuePrefix}:slack:feed`, FEED_LEASE_MS);
  let held = false;
  // What was queued per ticket; entries older than the margin are dropped as the cursor moves on.
  const seen = new Map<string, string>();
  const readFeed = async () => {
    held = held ? await lease.renew() : await lease.acquire();
    if (!held) return;
    for (const ws of await store.enabled()) {
      const window = await store.feedWindow(ws.id, FEED_MARGIN_MS);
      if (!window) continue;
      const { since, horizon } = window;
      let after: { at: string; id: string } | null = null;
      for (;;) {
        const page = await store.changedTickets(ws.organizationId, since, after);
        const fresh = page.filter((t) => seen.get(t.id) !== t.at);
        await enqueueSync(deps.outboundQueue, deps.config, fresh.map((t) => ({ organizationId: ws.organizationId, ticketId: t.id, version: t.at })));
        for (const t of fresh) seen.set(t.id, t.at);
        after = page.at(-1) ?? after;
        if (page.length < 500) break;
      }
      // Everything up to the horizon has been read (all pages were): the next read starts there.
      await store.advanceCursor(ws.id, horizon);
    }
    if (seen.size > 50_000) seen.clear();
  };
  const feed = every(Math.min(deps.config.slack.syncPollMs, FEED_LEASE_MS / 3), readFeed, log, 'read the ticket feed for Slack');

  return {
    async stop() {
      unsubscribe();
      clearTimeout(envRetry);
      await feed.stop();
      if (held) await lease.release().catch(() => undefined);
      await Promise.all([inboundWorker.close(), outboundWorker.close()]);
    },
  };
}

/** Connects the workspace the environment names (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_ORGANIZATION, SLACK_TRIAGE_CHANNEL). */
async function defineEnvironmentWorkspace(deps: SlackChannelDeps, store: SlackStore, log: Logger): Promise<void> {
  const s = deps.config.slack;
  if (!s.botToken || !s.signingSecret || !s.organization || !s.triageChannel) return;
  const org = await deps.orm.em.fork().getConnection().execute<Array<{ id: string }>>('SELECT id FROM organizations WHERE slug = ?', [s.organization]);
  if (!org[0]) throw new ConfigProblem(`SLACK_ORGANIZATION is "${s.organization}", but no organization has that slug: create it (npm run cli -- org create) or fix the variable.`);
  const ws = await connectWorkspace(store, s.apiUrl, { organizationId: org[0].id, botToken: s.botToken, signingSecret: s.signingSecret, triageChannel: s.triageChannel, noteMarkers: [...s.noteMarkers], language: s.language }, { replace: true });
  log.info({ team: ws.teamId, triage: ws.triageChannel }, 'Slack workspace defined by the environment');
}

/** Checks the token with auth.test (which also names the team and the bot user) and stores the workspace. */
export async function connectWorkspace(
  store: SlackStore,
  apiUrl: string,
  w: { organizationId: string; botToken: string; signingSecret: string; triageChannel: string; noteMarkers: string[]; language?: Locale },
  opts: { replace?: boolean } = {},
): Promise<WorkspaceConfig> {
  let auth: { team_id?: string; team?: string; user_id?: string };
  try {
    auth = await slackClient(w.botToken, apiUrl).auth.test();
  } catch (err) {
    const code = (err as { data?: { error?: string } }).data?.error;
    throw new DomainError('invalid', code
      ? `Slack did not accept the bot token (${code}): copy the Bot User OAuth Token (xoxb-...) from the app's OAuth & Permissions page.`
      : `Slack could not be reached at ${apiUrl}: ${(err as Error).message}`, 'token');
  }
  if (!auth.team_id || !auth.user_id) throw new DomainError('invalid', 'Slack answered auth.test without a team or a bot user: is this a bot token (xoxb-...)?', 'token');
  return store.addWorkspace({
    organizationId: w.organizationId, teamId: auth.team_id, teamName: auth.team ?? '', botUserId: auth.user_id, botToken: w.botToken,
    signingSecret: w.signingSecret, triageChannel: w.triageChannel, noteMarkers: w.noteMarkers, language: w.language ?? 'en',
  }, opts);
}

/** A mistake in the environment, which no retry mends: the process stops with it. */
class ConfigProblem extends Error {}
