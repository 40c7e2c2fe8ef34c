import { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import { ZodError } from 'zod';
import type { Logger } from 'pino';
import type { Config } from '../../config/index.ts';
import { DomainError } from '../../core/errors.ts';
import type { IntakeEventInput, StoredFile } from '../../core/intake-event.ts';
import type { Actor, AttachmentStorage, TicketState } from '../../core/ports.ts';
import { takeTicket, type TicketPatch } from '../../core/ticket-update.ts';
import type { SlackStore, WorkspaceConfig } from '../../persistence/slack-store.ts';
import type { TicketUpdateStore } from '../../persistence/ticket-update-store.ts';
import type { SubmitResult } from '../../workers/intake-producer.ts';
import { describeZodError } from '../../workers/retry-policy.ts';
import { ACTIONS, renderCard } from './card.ts';
import { readNewTicket } from './modal.ts';
import { TicketBusy, type SlackOutbound } from './outbound.ts';
import { Lease } from '../../workers/lease.ts';
import type { SlackInboundJob, SlackPayload } from './queues.ts';
import { isPersonReplyInThread } from './receiver.ts';
import { slackText } from './texts.ts';
import { SlackPeople, notAgent, type SlackPerson } from './people.ts';
import { mentionedUsers, slackMessageToPlain } from './plain-text.ts';
import { NotSlackAddress, classifySlackError, fetchFromSlack, isSlackAddress, platformError, type WebClient } from './web-api.ts';
import { subjectFrom } from '../../core/subject.ts';
import { cutText } from '../../core/text.ts';

export interface InboundDeps {
  config: Config;
  store: SlackStore;
  redis: Redis;
  updates: TicketUpdateStore;
  storage: AttachmentStorage;
  outbound: SlackOutbound;
  logger: Logger;
  submit: (event: IntakeEventInput) => Promise<SubmitResult>;
  /** Called when a ticket changed here, so that its message is updated without waiting for the feed. */
  changed: (organizationId: string, ticketId: string) => Promise<void>;
  /** Queues the notifications a change wrote (the reporter hears that their ticket was resolved). */
  notify: (notificationIds: string[]) => Promise<void>;
  /** Called for a note taken from a thread: its outcome (kept internal) is shown at once. */
  noted: (messageId: string) => Promise<void>;
}

interface SlackFile { id: string; name?: string; title?: string; mimetype?: string; size?: number; url_private_download?: string; url_private?: string; mode?: string; file_access?: string }

const RESPONSE_URL_TIMEOUT_MS = 10_000;
const DOWNLOAD_TIMEOUT_MS = 120_000;
/** One reply of a thread is taken at a time, so that the reporter gets them in the order they were written. */
const THREAD_LOCK_MS = 30_000;

/**
 * What Slack sent, handled by a worker: thread replies become answers or notes, buttons change tickets,
 * `/ticket` shows one, the modal and the shortcut make new ones. A Slack user speaks for the helpdesk only as
 * the agent or admin with the same email.
 */
export class SlackInbound {
  private readonly people: SlackPeople;

  constructor(private readonly deps: InboundDeps) {
    this.people = new SlackPeople(deps.store);
  }

  async handle(job: SlackInboundJob): Promise<string> {
    const ws = await this.deps.store.byTeam(job.teamId);
    if (!ws) return 'workspace no longer connected';
    // A job queued (or kept after failing) before the team was connected to another organization is not
    // carried out there: its ticket numbers meant the other organization's tickets.
    if (job.organizationId && job.organizationId !== ws.organizationId) return 'workspace now belongs to another organization';
    const client = this.deps.outbound.client(ws);
    try {
      switch (job.kind) {
        case 'message': return await this.reply(ws, client, job.payload);
        case 'action': return await this.action(ws, client, job.payload);
        case 'command': return await this.command(ws, client, job.payload);
        case 'view': return await this.view(ws, client, job.payload);
        case 'shortcut': return await this.shortcut(ws, client, job.payload);
      }
    } catch (err) {
      if ((err as { code?: string })?.code?.startsWith?.('slack_webapi_')) throw classifySlackError(err);
      throw err;
    }
  }

  /** A person's reply in a ticket's thread: a public answer to the reporter, or a note when it starts with a marker. */
  private async reply(ws: WorkspaceConfig, client: WebClient, payload: SlackPayload): Promise<string> {
    const m = payload.event as Record<string, unknown> & { channel: string; ts: string; thread_ts: string; user: string; text?: string; blocks?: unknown; files?: SlackFile[] };
    if (!isPersonReplyInThread(m, ws.botUserId)) return 'ignored';
    const ticket = await this.deps.store.ticketOfThread(ws.organizationId, m.channel, m.thread_ts);
    if (!ticket) return 'not a ticket thread';
    const person = await this.people.who(ws, client, m.user);
    if (!person.staff) {
      await client.chat.postEphemeral({ channel: m.channel, user: m.user, thread_ts: m.thread_ts, text: notAgent(person, ws.language) });
      return 'not an agent';
    }
    return this.inThread(ws, m.channel, m.thread_ts, () => this.takeReply(ws, client, m, ticket, person.staff!));
  }

  private async takeReply(ws: WorkspaceConfig, client: WebClient, m: { channel: string; ts: string; thread_ts: string; user: string; text?: string; blocks?: unknown; files?: SlackFile[] },
    ticket: { number: number }, staff: NonNullable<SlackPerson['staff']>): Promise<string> {
    const { internal, text, marker } = readMarker(await this.plain(ws, client, m), ws.noteMarkers);
    const { files, notes } = await this.download(ws, client, m.files ?? []);
    const body = [text, ...notes].filter(Boolean).join('\n\n');
    if (!body && files.length === 0) {
      // Only a marker: the author meant to write a note; saying nothing would look like it was kept.
      if (marker) await client.chat.postEphemeral({ channel: m.channel, user: m.user, thread_ts: m.thread_ts, text: slackText('emptyReply', ws.language, { marker }) });
      return 'empty';
    }
    const result = await this.submit({
      organizationId: ws.organizationId,
      channel: 'slack',
      externalId: `${ws.teamId}:${m.channel}:${m.ts}`,
      sender: { kind: 'api', address: staff.userId, name: staff.name },
      authorUserId: staff.userId,
      ticketNumber: ticket.number,
      text: body,
      visibility: internal ? 'internal' : 'public',
      attachments: files,
      metadata: { slackThread: { team: ws.teamId, channel: m.channel, ts: m.ts, threadTs: m.thread_ts, user: m.user } },
      receivedAt: new Date(Number(m.ts) * 1000).toISOString(),
    });
    if (result.state === 'pending') throw new Error(`reply ${m.ts} is queued but not committed yet; trying again`);
    if (result.state === 'failed') {
      await client.chat.postEphemeral({ channel: m.channel, user: m.user, thread_ts: m.thread_ts, text: slackText('replyRefused', ws.language, { reason: forPeople(result.reason) }) });
      return 'refused';
    }
    if (internal) await this.deps.noted(result.outcome.messageId);
    return internal ? 'note' : 'reply';
  }

  /**
   * Runs `work` as the only job taking replies from this thread. Jobs are picked in the order Slack sent them;
   * without this, a reply with a file (downloaded first) would reach the reporter after the next one.
   */
  private async inThread(ws: WorkspaceConfig, channel: string, threadTs: string, work: () => Promise<string>): Promise<string> {
    const lease = new Lease(this.deps.redis, `${this.deps.config.queuePrefix}:slack:thread:${ws.teamId}:${channel}:${threadTs}`, THREAD_LOCK_MS);
    if (!(await lease.acquire())) throw new TicketBusy();
    const renewal = setInterval(() => void lease.renew().catch(() => undefined), THREAD_LOCK_MS / 3);
    try {
      return await work();
    } finally {
      clearInterval(renewal);
      await lease.release().catch(() => undefined);
    }
  }

  /** Take, Priority, Resolve, Close on a ticket's message (or on `/ticket`'s answer). */
  private async action(ws: WorkspaceConfig, client: WebClient, payload: SlackPayload): Promise<string> {
    const body = payload as { user: { id: string }; channel?: { id: string }; container?: { channel_id?: string; message_ts?: string }; response_url?: string;
      actions: Array<{ action_id: string; value?: string; selected_option?: { value: string }; block_id?: string }> };
    const act = body.actions[0];
    if (!act) return 'no action';
    const typed = act.value ?? act.block_id?.replace(/^ticket_/, '') ?? '';
    const number = ticketNumber(typed);
    const channel = body.channel?.id ?? body.container?.channel_id;
    const tell = (text: string) => this.tell(client, { channel, user: body.user.id, responseUrl: body.response_url }, text);
    const person = await this.people.who(ws, client, body.user.id);
    if (!person.staff) {
      await tell(notAgent(person, ws.language));
      return 'not an agent';
    }
    const actor: Actor = { userId: person.staff.userId, organizationId: ws.organizationId, role: person.staff.role as Actor['role'] };
    const card = number ? await this.deps.store.cardByNumber(ws.organizationId, number) : null;
    if (!card) {
      await tell(slackText('noTicket', ws.language, { number: typed || '?' }));
      return 'no ticket';
    }
    let patch: TicketPatch | ((ticket: TicketState) => TicketPatch);
    switch (act.action_id) {
      // Decided under the ticket's row lock: of two agents pressing Take at once, the second is told.
      case ACTIONS.take: patch = (t) => takeTicket(t, actor); break;
      case ACTIONS.priority: patch = { priority: act.selected_option?.value as TicketPatch['priority'] }; break;
      case ACTIONS.resolve: patch = { status: 'resolved' }; break;
      case ACTIONS.close: patch = { status: 'closed' }; break;
      default: return 'unknown action';
    }
    try {
      const { notificationIds } = await this.deps.updates.update(actor, card.number, patch, 'slack');
      // Committed already: a failure to queue them is the sweeper's to mend, not a reason to apply the change again.
      await this.deps.notify(notificationIds).catch((err) => this.deps.logger.warn({ err: String(err) }, 'could not queue notifications; the sweeper will'));
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      if (act.action_id === ACTIONS.take && err.kind === 'conflict' && err.field === 'assignee') {
        const now = await this.deps.store.cardByNumber(ws.organizationId, card.number);
        await tell(slackText('takenBy', ws.language, { number: card.number, name: now?.assigneeName ?? '?' }));
        // The card may show a Take that is no longer true: brought up to date.
        await this.deps.changed(ws.organizationId, card.id);
        return 'taken already';
      }
      await tell(slackText('changeRefused', ws.language, { number: card.number, reason: err.message }));
      return 'refused';
    }
    await this.deps.changed(ws.organizationId, card.id);
    return act.action_id;
  }

  /** `/ticket 1042`: the ticket's card, to the person who asked. */
  private async command(ws: WorkspaceConfig, client: WebClient, payload: SlackPayload): Promise<string> {
    const c = payload as { text: string; user_id: string; channel_id: string; response_url?: string };
    const tell = (text: string, blocks?: unknown[]) => this.tell(client, { channel: c.channel_id, user: c.user_id, responseUrl: c.response_url }, text, blocks);
    const person = await this.people.who(ws, client, c.user_id);
    if (!person.staff) {
      await tell(notAgent(person, ws.language));
      return 'not an agent';
    }
    const number = ticketNumber(c.text);
    const card = number ? await this.deps.store.cardByNumber(ws.organizationId, number) : null;
    if (!card) {
      await tell(slackText('noTicket', ws.language, { number: c.text.trim().replace(/^#/, '') }));
      return 'no ticket';
    }
    const rendered = renderCard(card, this.deps.outbound.ticketLink(card.number), ws.language);
    const { thread } = card;
    // A link to the thread itself; the channel's name alone when Slack will not give one.
    const permalink = thread
      ? await client.chat.getPermalink({ channel: thread.channelId, message_ts: thread.ts }).then((r) => r.permalink ?? null, () => null)
      : null;
    const where = thread
      ? [{ type: 'context', elements: [{ type: 'mrkdwn', text: permalink
        ? slackText('itsThread', ws.language, { link: permalink, channel: thread.channelId })
        : slackText('itsChannel', ws.language, { channel: thread.channelId }) }] }]
      : [];
    await tell(rendered.text, [...rendered.blocks, ...where]);
    return 'shown';
  }

  /** The `/ticket new` modal, sent: a ticket on the reporter's behalf. */
  private async view(ws: WorkspaceConfig, client: WebClient, payload: SlackPayload): Promise<string> {
    const b = payload as { user: { id: string }; view: { id: string; hash?: string; state: { values: never } } };
    const person = await this.people.who(ws, client, b.user.id);
    if (!person.staff) {
      await client.chat.postMessage({ channel: b.user.id, text: notAgent(person, ws.language) });
      return 'not an agent';
    }
    const form = readNewTicket(b.view.state.values, ws.language);
    if ('errors' in form) return 'invalid';
    const result = await this.submit({
      organizationId: ws.organizationId,
      channel: 'slack',
      externalId: `${ws.teamId}:view:${b.view.id}`,
      sender: { kind: 'email', address: form.reporterEmail, ...(form.reporterName ? { name: form.reporterName } : {}) },
      authorUserId: person.staff.userId,
      subject: form.subject,
      text: form.description,
      fields: { priority: form.priority },
      metadata: { slack: { team: ws.teamId, createdBy: b.user.id, via: 'modal' } },
      receivedAt: new Date().toISOString(),
    });
    return this.created(ws, client, { channel: b.user.id, user: b.user.id }, result);
  }

  /** The *Create ticket* message shortcut: the message (and its files) becomes a ticket of its author. */
  private async shortcut(ws: WorkspaceConfig, client: WebClient, payload: SlackPayload): Promise<string> {
    const b = payload as { user: { id: string }; channel: { id: string }; response_url?: string;
      message: { ts: string; user?: string; text?: string; blocks?: unknown; files?: SlackFile[]; bot_id?: string; username?: string; bot_profile?: { name?: string } } };
    const tell = { channel: b.channel.id, user: b.user.id, responseUrl: b.response_url };
    const person = await this.people.who(ws, client, b.user.id);
    if (!person.staff) {
      await this.tell(client, tell, notAgent(person, ws.language));
      return 'not an agent';
    }
    const text = await this.plain(ws, client, b.message);
    const { files, notes } = await this.download(ws, client, b.message.files ?? []);
    const author = b.message.user ? await this.people.who(ws, client, b.message.user) : null;
    // The reporter is the message's author, reached by email when Slack tells us their address.
    const sender = author?.email
      ? { kind: 'email' as const, address: author.email, name: author.name }
      : { kind: 'slack' as const, address: `${ws.teamId}:${b.message.user ?? b.message.bot_id ?? 'unknown'}`,
          name: author?.name || b.message.username || b.message.bot_profile?.name || undefined };
    const result = await this.submit({
      organizationId: ws.organizationId,
      channel: 'slack',
      externalId: `${ws.teamId}:shortcut:${b.channel.id}:${b.message.ts}`,
      sender,
      authorUserId: person.staff.userId,
      subject: text.trim() ? subjectFrom(undefined, text) : slackText('slackMessage', ws.language),
      text: [text, ...notes].filter(Boolean).join('\n\n') || '(files only)',
      attachments: files,
      metadata: { slack: { team: ws.teamId, createdBy: b.user.id, via: 'shortcut', channel: b.channel.id, ts: b.message.ts } },
      receivedAt: new Date(Number(b.message.ts) * 1000 || Date.now()).toISOString(),
    });
    return this.created(ws, client, tell, result);
  }

  private async created(ws: WorkspaceConfig, client: WebClient, to: { channel: string; user: string; responseUrl?: string }, result: SubmitResult): Promise<string> {
    if (result.state === 'pending') throw new Error('the new ticket is queued but not committed yet; trying again');
    if (result.state === 'failed') {
      await this.tell(client, to, slackText('notCreated', ws.language, { reason: forPeople(result.reason) }));
      return 'refused';
    }
    const n = result.outcome.ticketNumber;
    await this.tell(client, to, slackText(result.outcome.created ? 'created' : 'already', ws.language, { link: this.deps.outbound.ticketLink(n), number: n }));
    return 'created';
  }

  /** Hands an event to intake; one its schema refuses (a subject too long...) is a refusal to tell the agent, not a retry. */
  private async submit(event: IntakeEventInput): Promise<SubmitResult> {
    try {
      return await this.deps.submit(event);
    } catch (err) {
      if (err instanceof ZodError) return { state: 'failed', jobId: '', reason: describeZodError(err) };
      throw err;
    }
  }

  /** A message only the person sees: through the response URL Slack gave, else as an ephemeral message, else a DM. */
  private async tell(client: WebClient, to: Recipient, text: string, blocks?: unknown[]): Promise<void> {
    if (to.responseUrl && isSlackAddress(to.responseUrl, this.deps.config.slack.apiUrl)) {
      const res = await fetch(to.responseUrl, {
        method: 'POST', headers: { 'content-type': 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(RESPONSE_URL_TIMEOUT_MS),
        body: JSON.stringify({ response_type: 'ephemeral', replace_original: false, text, ...(blocks ? { blocks } : {}) }),
      }).catch((err: unknown) => ({ ok: false, status: String((err as Error).message ?? err) }));
      if (res.ok) return;
      this.deps.logger.warn({ status: res.status }, 'Slack refused a response_url answer; sending it another way');
    } else if (to.responseUrl) {
      this.deps.logger.warn({ responseUrl: new URL(to.responseUrl, 'http://invalid').origin }, 'a response_url that is not Slack\'s was not used');
    }
    // A channel (C…, G…) or a conversation with the app (D…); a user id (U…, or W… on Enterprise Grid) gets a DM.
    if (to.channel && /^[CGD]/.test(to.channel)) {
      await client.chat.postEphemeral({ channel: to.channel, user: to.user, text, ...(to.threadTs ? { thread_ts: to.threadTs } : {}), ...(blocks ? { blocks: blocks as never } : {}) });
      return;
    }
    await client.chat.postMessage({ channel: to.user, text, ...(blocks ? { blocks: blocks as never } : {}) });
  }

  /** A message as the reporter should read it: mentions by name, emoji as emoji, no markup. */
  private async plain(ws: WorkspaceConfig, client: WebClient, m: { text?: string; blocks?: unknown }): Promise<string> {
    // Looked up together (each is cached): a message mentioning five people waits for one round trip, not five.
    const ids = mentionedUsers(m.text ?? '', m.blocks).slice(0, 20);
    const people = await Promise.all(ids.map((id) => this.people.who(ws, client, id).catch(() => null)));
    const names = new Map(ids.flatMap((id, i) => (people[i] && people[i].name !== id ? [[id, people[i].name] as const] : [])));
    return slackMessageToPlain(m.text ?? '', m.blocks, names);
  }

  /** A file as files.info describes it; as it was given when Slack will not say (deleted, not shared with the app). */
  private async fileInfo(client: WebClient, f: SlackFile): Promise<SlackFile> {
    try {
      const info = await client.files.info({ file: f.id });
      return { ...f, ...(info.file as SlackFile | undefined) };
    } catch (err) {
      if (platformError(err)) return f;
      throw classifySlackError(err);
    }
  }

  /**
   * A job that failed for good (every retry spent, or refused): the person who acted is told, so that a reply
   * they believe sent is not silently lost.
   */
  async failed(job: SlackInboundJob, reason: string): Promise<void> {
    const ws = await this.deps.store.byTeam(job.teamId);
    if (!ws || (job.organizationId && job.organizationId !== ws.organizationId)) return;
    // Each kind names the person (and where they acted) in its own words.
    const p = job.payload as { event?: { channel?: string; user?: string; thread_ts?: string }; channel_id?: string; user_id?: string;
      response_url?: string; user?: { id?: string }; channel?: { id?: string }; container?: { channel_id?: string } };
    const why = cutText(forPeople(reason), 300);
    const where =
      job.kind === 'message' ? { channel: p.event?.channel, user: p.event?.user, threadTs: p.event?.thread_ts }
      : job.kind === 'command' ? { channel: p.channel_id, user: p.user_id, responseUrl: p.response_url }
      : job.kind === 'view' ? { user: p.user?.id }
      : { channel: p.channel?.id ?? p.container?.channel_id, user: p.user?.id, responseUrl: p.response_url };
    if (!where.user) return;
    const to: Recipient = { ...where, user: where.user };
    const text = job.kind === 'message'
      ? slackText('replyFailed', ws.language, { reason: why })
      : slackText('requestFailed', ws.language, { reason: why });
    await this.tell(this.deps.outbound.client(ws), to, text);
  }

  /** Files shared in Slack, fetched with the bot token into attachment storage. */
  private async download(ws: WorkspaceConfig, client: WebClient, files: SlackFile[]): Promise<{ files: StoredFile[]; notes: string[] }> {
    const stored: StoredFile[] = [];
    const notes: string[] = [];
    const limit = this.deps.config.attachmentMaxBytes;
    for (const given of files) {
      // Slack leaves the addresses out of files it has not finished or that came through Slack Connect: asked for.
      const f = !given.url_private_download && !given.url_private && given.mode !== 'tombstone' ? await this.fileInfo(client, given) : given;
      const name = cutText(f.name || f.title || `file-${f.id}`, 255);
      const url = f.url_private_download ?? f.url_private;
      if (!url || f.mode === 'tombstone' || f.mode === 'external') {
        notes.push(slackText('fileUnavailable', ws.language, { name }));
        continue;
      }
      if ((f.size ?? 0) > limit) {
        notes.push(slackText('fileTooLarge', ws.language, { name, size: ((f.size ?? 0) / 1024 / 1024).toFixed(1), limit: (limit / 1024 / 1024).toFixed(0) }));
        continue;
      }
      // A download that stalls gives the job back for a retry instead of holding it.
      let res: Response;
      try {
        res = await fetchFromSlack(url, { headers: { authorization: `Bearer ${ws.botToken}` }, signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) }, this.deps.config.slack.apiUrl);
      } catch (err) {
        if (!(err instanceof NotSlackAddress)) throw err;
        this.deps.logger.warn({ team: ws.teamId, file: f.id, reason: err.message }, 'a file address that is not Slack\'s was not fetched');
        notes.push(slackText('fileUnavailable', ws.language, { name }));
        continue;
      }
      // Deleted, or not shared with the app: another try would not change that (a 5xx or 429 might).
      if (res.status >= 400 && res.status < 500 && res.status !== 429 && res.status !== 408) {
        await res.body?.cancel();
        notes.push(slackText('fileUnavailable', ws.language, { name }));
        continue;
      }
      if (!res.ok || !res.body) throw new Error(`downloading "${name}" from Slack failed: HTTP ${res.status}`);
      // Slack answers a download it does not allow with its sign-in page (200, HTML), not an error.
      if (/^text\/html/i.test(res.headers.get('content-type') ?? '') && !/html/i.test(f.mimetype ?? '')) {
        await res.body.cancel();
        notes.push(slackText('fileNoScope', ws.language, { name }));
        continue;
      }
      stored.push(await this.deps.storage.put(Readable.fromWeb(res.body as never), { filename: name, declaredType: f.mimetype, maxBytes: limit }));
    }
    return { files: stored, notes };
  }
}

/** A failure reason as people read it: without the error kind the queue put before it ("invalid: ..."). */
function forPeople(reason: string): string {
  return reason.replace(/^\w+: /, '');
}

interface Recipient { channel?: string; user: string; responseUrl?: string; threadTs?: string }

/** A ticket number as people type it ("1042", "#1042"), or null when it cannot be one. */
export function ticketNumber(text: string): number | null {
  const n = Number(text.trim().replace(/^#/, ''));
  return Number.isInteger(n) && n > 0 && n <= 2_147_483_647 ? n : null;
}

/** A reply starting with a note marker ("note:", "//") is an internal note; the marker is not part of it. */
export function readMarker(text: string, markers: readonly string[]): { internal: boolean; text: string; marker?: string } {
  const trimmed = text.trimStart();
  const marker = markers.find((m) => trimmed.toLowerCase().startsWith(m.toLowerCase()));
  return marker ? { internal: true, text: trimmed.slice(marker.length).trim(), marker } : { internal: false, text: text.trim() };
}
