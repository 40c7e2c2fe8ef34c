import { buffer } from 'node:stream/consumers';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../../config/index.ts';
import type { AttachmentStorage } from '../../core/ports.ts';
import type { MessageToMirror, SlackStore, WorkspaceConfig } from '../../persistence/slack-store.ts';
import { Lease } from '../../workers/lease.ts';
import { renderCard, threadText, escapeMrkdwn } from './card.ts';
import { ChannelPace, SlackRefusal, classifySlackError, platformError, slackClient, type WebClient } from './web-api.ts';
import { DeliveryError } from '../../core/ports.ts';

export interface OutboundDeps {
  config: Config;
  store: SlackStore;
  redis: Redis;
  storage: AttachmentStorage;
  logger: Logger;
}

/** Another job is posting into the same channel: this one comes back in a moment. */
export class ChannelBusy extends Error {
  constructor() {
    super('another job is posting into this channel');
    this.name = 'ChannelBusy';
  }
}

const LOCK_MS = 30_000;

/**
 * Keeps Slack in step with tickets: the ticket's message (posted once, then updated in place when what it
 * shows changes) and its thread (every message of the ticket, except replies that came from the thread).
 * One job posts into a channel at a time, at the channel's pace; progress is recorded per message, so a retry
 * after a 429 or a crash goes on where it stopped.
 */
export class SlackOutbound {
  private readonly pace: ChannelPace;
  private readonly clients = new Map<string, WebClient>();

  constructor(private readonly deps: OutboundDeps) {
    this.pace = new ChannelPace(deps.redis, deps.config.queuePrefix, deps.config.slack.channelIntervalMs);
  }

  client(ws: WorkspaceConfig): WebClient {
    let c = this.clients.get(ws.id);
    if (!c || (c as unknown as { token?: string }).token !== ws.botToken) {
      c = slackClient(ws.botToken, this.deps.config.slack.apiUrl);
      this.clients.set(ws.id, c);
    }
    return c;
  }

  ticketLink(number: number): string {
    return `${this.deps.config.publicUrl}/api/v1/tickets/${number}`;
  }

  async sync(organizationId: string, ticketId: string): Promise<string> {
    const ws = await this.deps.store.byOrganization(organizationId);
    if (!ws) return 'no workspace';
    const card = await this.deps.store.card(organizationId, ticketId);
    if (!card) return 'no ticket';
    const { thread } = card;
    const rendered = renderCard(card, this.ticketLink(card.number));
    // Most changes (a reply taken from the thread, a change Slack already shows) leave nothing to post.
    const pending = await this.deps.store.unmirrored(ticketId, 1);
    if (thread && thread.renderedHash === rendered.hash && pending.length === 0) return 'up to date';
    const channel = thread?.channelId ?? (await this.deps.store.channelFor(ws, card));
    return this.inChannel(ws, channel, ticketId, async (client) => {
      let ts = thread?.ts;
      if (!ts) {
        ts = await this.call(ws, channel, () => client.chat.postMessage({ channel, text: rendered.text, blocks: rendered.blocks as never, unfurl_links: false }));
        await this.deps.store.saveThread(organizationId, ticketId, channel, ts, rendered.hash);
      } else if (thread!.renderedHash !== rendered.hash) {
        try {
          await this.call(ws, channel, () => client.chat.update({ channel, ts: ts!, text: rendered.text, blocks: rendered.blocks as never }));
          await this.deps.store.saveThread(organizationId, ticketId, channel, ts, rendered.hash);
        } catch (err) {
          // Someone deleted the ticket's message: it is posted again, and the thread starts over there.
          if (!(err instanceof SlackRefusal && err.slackError === 'message_not_found')) throw err;
          ts = await this.call(ws, channel, () => client.chat.postMessage({ channel, text: rendered.text, blocks: rendered.blocks as never, unfurl_links: false }));
          await this.deps.store.saveThread(organizationId, ticketId, channel, ts, rendered.hash);
        }
      }
      for (;;) {
        const batch = await this.deps.store.unmirrored(ticketId);
        for (const m of batch) await this.mirror(ws, client, channel, ts, ticketId, card.number, m);
        if (batch.length < 20) break;
      }
      return 'synced';
    });
  }

  /** Posts one ticket message into the thread: its text, then its files; parts already posted are skipped. */
  private async mirror(ws: WorkspaceConfig, client: WebClient, channel: string, threadTs: string, ticketId: string, number: number, m: MessageToMirror): Promise<void> {
    const progress = `${this.deps.config.queuePrefix}:slack:sent:${m.id}`;
    const done = await this.deps.redis.hgetall(progress);
    const mark = (field: string, value: string) => this.deps.redis.multi().hset(progress, field, value).pexpire(progress, 24 * 3600 * 1000).exec();
    let ts = done.text;
    if (!ts) {
      const header = m.visibility === 'internal'
        ? `:lock: *${escapeMrkdwn(m.authorName)}* left an internal note:`
        : m.byStaff
          ? `:outbox_tray: *${escapeMrkdwn(m.authorName)}* answered the reporter (${m.channel}):`
          : `:speech_balloon: *${escapeMrkdwn(m.authorName)}* wrote:`;
      const body = m.body.trim() || (m.files.length > 0 ? '_(files only)_' : '_(empty)_');
      ts = await this.call(ws, channel, () => client.chat.postMessage({ channel, thread_ts: threadTs, text: threadText(header, body, this.ticketLink(number)), unfurl_links: false }));
      await mark('text', ts);
    }
    for (const [i, f] of m.files.entries()) {
      if (done[`file${i}`]) continue;
      const data = await buffer(await this.deps.storage.open(f.storageKey));
      await this.call(ws, channel, () => client.filesUploadV2({ channel_id: channel, thread_ts: threadTs, file: data, filename: f.filename, title: f.filename }) as never);
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
        line = `:warning: Not delivered to the reporter: ${escapeMrkdwn(failed.map((d) => d.error ?? 'unknown reason').join('; '))}. The reply is kept on the ticket.`;
      } else {
        // No channel can reach the reporter now (they read it in the portal or the API): kept, which is no failure.
        reaction = 'inbox_tray';
      }
    }
    const client = this.client(ws);
    try {
      await client.reactions.add({ channel: post.channelId, timestamp: post.ts, name: reaction });
    } catch (err) {
      if (platformError(err) !== 'already_reacted') throw classifySlackError(err);
    }
    if (line) {
      await this.inChannel(ws, post.channelId, post.ticketId, async (c) => {
        await this.call(ws, post.channelId, () => c.chat.postMessage({ channel: post.channelId, thread_ts: post.threadTs, text: line! }));
        return 'ok';
      });
    }
    return reaction;
  }

  /**
   * Runs `work` as the only poster into the channel. A refusal Slack will repeat is recorded on the ticket and
   * ends the job; anything else is thrown for the queue to retry (a 429 after holding the channel).
   */
  private async inChannel(ws: WorkspaceConfig, channel: string, ticketId: string, work: (client: WebClient) => Promise<string>): Promise<string> {
    const lease = new Lease(this.deps.redis, `${this.deps.config.queuePrefix}:slack:lock:${ws.teamId}:${channel}`, LOCK_MS);
    if (!(await lease.acquire())) throw new ChannelBusy();
    const renewal = setInterval(() => void lease.renew().catch(() => undefined), LOCK_MS / 3);
    try {
      return await work(this.client(ws));
    } catch (err) {
      if (err instanceof SlackRefusal) {
        this.deps.logger.warn({ team: ws.teamId, channel, ticketId, reason: err.message }, 'Slack refused a post');
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
  private async call(ws: WorkspaceConfig, channel: string, fn: () => Promise<unknown>): Promise<string> {
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
