import { buffer } from 'node:stream/consumers';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../../config/index.ts';
import type { AttachmentStorage } from '../../core/ports.ts';
import type { MessageToMirror, SlackStore, WorkspaceConfig } from '../../persistence/slack-store.ts';
import { Lease } from '../../workers/lease.ts';
import { renderCard, threadText, escapeMrkdwn } from './card.ts';
import { channelName, slackText } from './texts.ts';
import { ChannelPace, SlackRefusal, classifySlackError, platformError, slackClient, type WebClient } from './web-api.ts';
import { DeliveryError } from '../../core/ports.ts';
import { DomainError } from '../../core/errors.ts';

export interface OutboundDeps {
  config: Config;
  store: SlackStore;
  redis: Redis;
  storage: AttachmentStorage;
  logger: Logger;
}

/** Another job is posting about the same ticket: this one comes back in a moment. */
export class TicketBusy extends Error {
  /** `retryInMs`: when to look again, for a wait that is known to be short (else it backs off). */
  constructor(readonly retryInMs?: number, message = 'another job is posting about this ticket') {
    super(message);
    this.name = 'TicketBusy';
  }
}

/** How soon a ticket waiting for an older one's first message looks again: about a post's time. */
const TURN_WAIT_MS = 300;

interface HeldLock { lost: boolean }

const LOCK_MS = 30_000;
/** An upload of a file as large as attachments may be takes longer than a post. */
const UPLOAD_TIMEOUT_MS = 120_000;
/** Refusals that concern the file alone: the thread goes on without it (with a line saying so). */
const FILE_REFUSALS = new Set(['file_uploads_disabled', 'file_upload_size_restricted', 'file_uploads_except_images_disabled', 'invalid_file_type', 'missing_scope']);
const MAX_HOLD_MS = 10 * 60_000;

/**
 * Keeps Slack in step with tickets: the ticket's message (posted once, then updated in place when what it
 * shows changes) and its thread (every message of the ticket, except replies that came from the thread).
 * One job posts about a ticket at a time, every post at its channel's pace; progress is recorded per message,
 * so a retry after a 429 or a crash goes on where it stopped.
 */
export class SlackOutbound {
  private readonly pace: ChannelPace;
  private readonly clients = new Map<string, WebClient>();

  constructor(private readonly deps: OutboundDeps) {
    this.pace = new ChannelPace(deps.redis, deps.config.queuePrefix, deps.config.slack.channelIntervalMs);
  }

  client(ws: WorkspaceConfig, use: 'post' | 'upload' = 'post'): WebClient {
    const key = `${ws.id}:${use}`;
    let c = this.clients.get(key);
    if (!c || (c as unknown as { token?: string }).token !== ws.botToken) {
      c = slackClient(ws.botToken, this.deps.config.slack.apiUrl, use === 'upload' ? UPLOAD_TIMEOUT_MS : undefined);
      this.clients.set(key, c);
    }
    return c;
  }

  ticketLink(number: number): string {
    return `${this.deps.config.publicUrl}/api/v1/tickets/${number}`;
  }

  async sync(organizationId: string, ticketId: string): Promise<string> {
    // Syncs are queued only for organizations with a workspace (by the feed, or by a Slack action).
    const ws = await this.deps.store.byOrganization(organizationId, { known: true });
    if (!ws) return 'no workspace';
    // Most changes (a reply taken from the thread, a change Slack already shows) leave nothing to post: seen
    // without the lock. Anything else is read again under it, so that what is posted is never older than
    // what another job posted.
    const glance = await this.read(ws, ticketId);
    if (!glance) return 'no ticket';
    if (glance.upToDate) return 'up to date';
    return this.inTicket(ws, ticketId, async (client, lock) => {
      const now = await this.read(ws, ticketId);
      if (!now) return 'no ticket';
      const { card, rendered } = now;
      let channel = card.thread?.channelId ?? (await this.deps.store.channelFor(ws, card));
      let ts = card.thread?.ts;
      let hash = card.thread?.renderedHash;
      // A card posted by an earlier try that died before recording it is not posted twice.
      const posted = `${this.deps.config.queuePrefix}:slack:card:${ticketId}`;
      const postCard = async (again: boolean) => {
        const earlier = again ? null : await this.deps.redis.get(posted);
        if (earlier) {
          [channel, ts, hash] = JSON.parse(earlier) as [string, string, string];
        } else {
          // A new message has an empty thread: everything is posted into it again (first forgotten, so that a
          // crash in between still leaves it to post).
          if (again) await this.deps.store.forgetPosts(ticketId);
          channel = await this.deps.store.channelFor(ws, card);
          ts = await this.call(ws, channel, lock, () => client.chat.postMessage({ channel, text: rendered.text, blocks: rendered.blocks as never, unfurl_links: false }));
          hash = rendered.hash;
          await this.deps.redis.set(posted, JSON.stringify([channel, ts, hash]), 'PX', 24 * 3600 * 1000);
        }
        await this.deps.store.saveThread(organizationId, ticketId, channel, ts!, hash!);
        await this.deps.redis.del(posted);
      };
      // The ticket's message was deleted, or its channel is gone (another workspace now, archived): it is
      // posted anew where the ticket belongs, and the thread starts over there.
      const gone = (err: unknown) => err instanceof SlackRefusal && ['message_not_found', 'channel_not_found', 'is_archived'].includes(err.slackError);
      if (!ts) {
        // Tickets that came at the same time would otherwise appear in whatever order their jobs ran.
        if (await this.deps.store.olderWaiting(organizationId, card.number)) throw new TicketBusy(TURN_WAIT_MS, 'an older ticket is posted first');
        await postCard(false);
      }
      if (hash !== rendered.hash) {
        try {
          await this.call(ws, channel, lock, () => client.chat.update({ channel, ts: ts!, text: rendered.text, blocks: rendered.blocks as never }));
          await this.deps.store.saveThread(organizationId, ticketId, channel, ts!, rendered.hash);
        } catch (err) {
          if (!gone(err)) throw err;
          await postCard(true);
        }
      }
      thread: for (;;) {
        const batch = await this.deps.store.unmirrored(ticketId, ws.teamId, ts!);
        for (const m of batch) {
          try {
            await this.mirror(ws, client, lock, channel, ts!, ticketId, card.number, m);
          } catch (err) {
            if (!gone(err)) throw err;
            await this.deps.redis.del(`${this.deps.config.queuePrefix}:slack:sent:${m.id}`);
            await postCard(true);
            // The new thread is filled from the start, in order.
            continue thread;
          }
        }
        if (batch.length < 20) break;
      }
      return 'synced';
    });
  }

  private async read(ws: WorkspaceConfig, ticketId: string) {
    const card = await this.deps.store.card(ws.organizationId, ticketId);
    if (!card) return null;
    const rendered = renderCard(card, this.ticketLink(card.number), ws.language);
    const pending = await this.deps.store.unmirrored(ticketId, ws.teamId, card.thread?.ts ?? null, 1);
    return { card, rendered, upToDate: card.thread !== null && card.thread.renderedHash === rendered.hash && pending.length === 0 };
  }

  /** Posts one ticket message into the thread: its text, then its files; parts already posted are skipped. */
  private async mirror(ws: WorkspaceConfig, client: WebClient, lock: HeldLock, channel: string, threadTs: string, ticketId: string, number: number, m: MessageToMirror): Promise<void> {
    const progress = `${this.deps.config.queuePrefix}:slack:sent:${m.id}`;
    const done = await this.deps.redis.hgetall(progress);
    const mark = (field: string, value: string) => this.deps.redis.multi().hset(progress, field, value).pexpire(progress, 24 * 3600 * 1000).exec();
    let ts = done.text;
    if (!ts) {
      const vars = { who: `*${escapeMrkdwn(m.authorName)}*`, channel: channelName(m.channel, ws.language) };
      const header = slackText(m.visibility === 'internal' ? 'noteHeader' : !m.byStaff ? 'wroteHeader' : m.opened ? 'openedForHeader' : 'answeredHeader', ws.language, vars);
      const body = m.body.trim() || slackText(m.files.length > 0 ? 'filesOnly' : 'empty', ws.language);
      ts = await this.call(ws, channel, lock, () => client.chat.postMessage({ channel, thread_ts: threadTs, text: threadText(header, body, this.ticketLink(number), ws.language), unfurl_links: false }));
      await mark('text', ts);
    }
    const uploader = this.client(ws, 'upload');
    for (const [i, f] of m.files.entries()) {
      if (done[`file${i}`]) continue;
      try {
        const data = await buffer(await this.deps.storage.open(f.storageKey));
        await this.call(ws, channel, lock, () => uploader.filesUploadV2({ channel_id: channel, thread_ts: threadTs, file: data, filename: f.filename, title: f.filename }) as never);
      } catch (err) {
        // A file Slack will never take (or that storage lost) must not hold up the rest of the thread for good.
        const fileOnly = err instanceof SlackRefusal ? FILE_REFUSALS.has(err.slackError) : err instanceof DomainError && err.kind === 'not_found';
        if (!fileOnly) throw err;
        const reason = err instanceof SlackRefusal ? err.slackError : 'missing from storage';
        this.deps.logger.warn({ team: ws.teamId, ticketId, file: f.filename, reason }, 'a file could not be posted into Slack; said so in the thread');
        await this.call(ws, channel, lock, () => client.chat.postMessage({ channel, thread_ts: threadTs, unfurl_links: false,
          text: slackText('fileNotPosted', ws.language, { name: escapeMrkdwn(f.filename), reason, link: this.ticketLink(number) }) }));
      }
      await mark(`file${i}`, '1');
    }
    await this.deps.store.recordPost({ messageId: m.id, organizationId: ws.organizationId, ticketId, channelId: channel, ts, direction: 'out' });
    await this.deps.redis.del(progress);
  }

  /** Shows under a reply taken from the thread what became of it: delivered, kept, or not delivered and why. */
  async outcome(messageId: string): Promise<string> {
    const post = await this.deps.store.replyOutcome(messageId);
    if (!post) return 'not from slack';
    const ws = await this.deps.store.byOrganization(post.organizationId);
    if (!ws) return 'no workspace';
    let reaction: string;
    let line: string | null = null;
    if (post.visibility === 'internal') {
      reaction = 'lock';
    } else {
      const { deliveries } = post;
      if (deliveries.length === 0 || deliveries.some((d) => d.status === 'pending')) return 'pending';
      const failed = deliveries.filter((d) => d.status === 'failed');
      if (deliveries.some((d) => d.status === 'sent')) {
        reaction = 'white_check_mark';
      } else if (failed.length > 0) {
        reaction = 'warning';
        line = slackText('notDelivered', ws.language, { reasons: escapeMrkdwn(failed.map((d) => d.error ?? '?').join('; ')) });
      } else {
        // No channel can reach the reporter now (they read it in the portal or the API): kept, which is no failure.
        reaction = 'inbox_tray';
      }
    }
    const client = this.client(ws);
    try {
      await client.reactions.add({ channel: post.channelId, timestamp: post.ts, name: reaction });
    } catch (err) {
      const refused = platformError(err);
      // The reply was deleted (or its channel archived) before its outcome came: nothing left to mark.
      if (refused === 'message_not_found' || refused === 'channel_not_found' || refused === 'is_archived') return 'reply gone';
      if (refused !== 'already_reacted') throw classifySlackError(err);
    }
    if (line) {
      await this.inTicket(ws, post.ticketId, async (c, lock) => {
        await this.call(ws, post.channelId, lock, () => c.chat.postMessage({ channel: post.channelId, thread_ts: post.threadTs, text: line! }));
        return 'ok';
      });
    }
    return reaction;
  }

  /**
   * Runs `work` as the only job posting about this ticket. A refusal Slack will repeat is recorded on the ticket
   * and ends the job; anything else is thrown for the queue to retry (a 429 after holding the channel).
   */
  private async inTicket(ws: WorkspaceConfig, ticketId: string, work: (client: WebClient, lock: HeldLock) => Promise<string>): Promise<string> {
    const lease = new Lease(this.deps.redis, `${this.deps.config.queuePrefix}:slack:ticket:${ticketId}`, LOCK_MS);
    if (!(await lease.acquire())) throw new TicketBusy();
    const lock: HeldLock = { lost: false };
    const since = Date.now();
    // Held as long as the work goes on, up to a limit: a job stuck on something (a storage read that never
    // ends) gives the ticket back to the others instead of holding it forever.
    const renewal = setInterval(() => {
      if (Date.now() - since > MAX_HOLD_MS) {
        lock.lost = true;
        return;
      }
      void lease.renew().then((held) => { if (!held) lock.lost = true; }, () => undefined);
    }, LOCK_MS / 3);
    try {
      return await work(this.client(ws), lock);
    } catch (err) {
      if (err instanceof SlackRefusal) {
        this.deps.logger.warn({ team: ws.teamId, ticketId, reason: err.message }, 'Slack refused a post');
        await this.deps.store.recordFailure(ws.organizationId, ticketId, err.message);
        await this.deps.store.noteError(ws.id, err.message);
      }
      throw err;
    } finally {
      clearInterval(renewal);
      await lease.release().catch(() => undefined);
    }
  }

  /** One Web API call at the channel's pace; returns the ts of the message it made, if any. */
  private async call(ws: WorkspaceConfig, channel: string, lock: HeldLock, fn: () => Promise<unknown>): Promise<string> {
    // Another job may hold the ticket now: it goes on from what was recorded, this one stops.
    if (lock.lost) throw new TicketBusy();
    await this.pace.take(ws.teamId, channel);
    try {
      const res = (await fn()) as { ts?: string; message?: { ts?: string }; files?: Array<{ id?: string }> };
      return res.ts ?? res.message?.ts ?? '';
    } catch (err) {
      const e = classifySlackError(err);
      if (e instanceof DeliveryError && e.reason === 'rate_limited' && e.retryAfterMs) await this.pace.hold(ws.teamId, channel, e.retryAfterMs);
      throw e;
    }
  }
}
