import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import Router from '@koa/router';
import { App, HTTPReceiver, LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { Config } from '../../config/index.ts';
import type { SlackStore, WorkspaceConfig } from '../../persistence/slack-store.ts';
import { HttpError } from '../../web/http-error.ts';
import { ACTIONS } from './card.ts';
import { NEW_TICKET_CALLBACK, newTicketModal, readNewTicket } from './modal.ts';
import { slackText } from './texts.ts';
import { SHORTCUT_CALLBACK, claimedTeam, judgeSlackRequest, readSlackBody } from './request-shape.ts';
import { enqueueInbound, type SlackInboundJob, type SlackPayload } from './queues.ts';
import { isSlackAddress } from './web-api.ts';
import { SlackPeople, notAgent } from './people.ts';

const CACHE_MS = 10_000;
const MAX_BODY = 1024 * 1024;
/** Slack signs the time of each request; an older one is a replay. */
const MAX_AGE_S = 300;
const PATH = '/slack/events';

/**
 * `POST /slack/events`: the Request URL of every connected Slack app (events, interactivity, slash commands).
 * The request is matched to its workspace by its signature, then handed to that workspace's Bolt app through
 * Bolt's own HTTP receiver, on this server. Every handler acknowledges at once and queues the work.
 */
export function slackEventRoutes(deps: { config: Config; store: SlackStore; queue: Queue<SlackInboundJob>; logger: Logger }): Router {
  const router = new Router();
  const log = deps.logger.child({ channel: 'slack' });
  const people = new SlackPeople(deps.store);
  let cache: { at: number; apps: Array<{ ws: WorkspaceConfig; app: App; receiver: HTTPReceiver }> } | null = null;
  // A workspace connected a moment ago is looked up again when nothing matches (at most once a second).
  const apps = async (fresh = false) => {
    if (cache && Date.now() - cache.at < (fresh ? 1000 : CACHE_MS)) return cache.apps;
    const workspaces = await deps.store.enabled();
    const previous = cache?.apps ?? [];
    const next = workspaces.map((ws) => {
      const same = previous.find((p) => p.ws.id === ws.id && p.ws.botToken === ws.botToken && p.ws.signingSecret === ws.signingSecret
        && p.ws.organizationId === ws.organizationId && p.ws.language === ws.language);
      return same ? { ...same, ws } : { ws, ...boltApp(ws, { ...deps, people }, log) };
    });
    cache = { at: Date.now(), apps: next };
    return next;
  };

  router.post(PATH, async (ctx) => {
    const signature = ctx.get('x-slack-signature');
    const timestamp = Number(ctx.get('x-slack-request-timestamp'));
    if (!signature || !Number.isFinite(timestamp)) throw new HttpError(401, 'unauthenticated', 'Slack requests carry X-Slack-Signature and X-Slack-Request-Timestamp.');
    if (Math.abs(Date.now() / 1000 - timestamp) > MAX_AGE_S) throw new HttpError(401, 'unauthenticated', 'The request is older than five minutes (or the clocks disagree).');
    const raw = await readBody(ctx.req);
    const body = readSlackBody(raw, ctx.get('content-type'));
    const hint = claimedTeam(body);
    const find = (candidates: Awaited<ReturnType<typeof apps>>) =>
      [...candidates.filter((c) => c.ws.teamId === hint), ...candidates.filter((c) => c.ws.teamId !== hint)]
        .find((c) => signedBy(c.ws.signingSecret, timestamp, raw, signature));
    const match = find(await apps()) ?? find(await apps(true));
    if (!match) throw new HttpError(401, 'unauthenticated', 'The signature matches no connected Slack workspace.');
    // One Slack app installed in two workspaces signs for both: the team the body names must be the one matched.
    if (hint && hint !== match.ws.teamId) throw new HttpError(401, 'unauthenticated', `Workspace ${hint} is not connected to this helpdesk.`);
    const judged = judgeSlackRequest(body);
    if (judged.verdict === 'refuse') throw new HttpError(judged.status, judged.status === 415 ? 'unsupported_media_type' : 'bad_request', judged.message);
    if (judged.verdict === 'ignore') {
      log.debug({ team: match.ws.teamId, why: judged.why }, 'slack request acknowledged and ignored');
      ctx.status = 200;
      ctx.body = '';
      return;
    }
    // Bolt reads the body we already read, verifies the signature itself and answers on the raw response.
    (ctx.req as unknown as { rawBody?: Buffer }).rawBody = raw;
    ctx.respond = false;
    match.receiver.requestListener(ctx.req, ctx.res);
  });
  return router;
}

function boltApp(ws: WorkspaceConfig, deps: { config: Config; queue: Queue<SlackInboundJob>; people: SlackPeople }, log: Logger): { app: App; receiver: HTTPReceiver } {
  const logger = boltLogger(log.child({ team: ws.teamId }));
  // The answer waits for the handler, so that work Redis did not take is a 500 that Slack retries, not a loss.
  const receiver = new HTTPReceiver({ signingSecret: ws.signingSecret, endpoints: PATH, logger, processBeforeResponse: true });
  const app = new App({
    // What auth.test would say is known since `slack add`: no call at start, and no failure to crash on.
    authorize: async () => ({ botToken: ws.botToken, botUserId: ws.botUserId, teamId: ws.teamId }),
    receiver,
    logger,
    // views.open must happen within Slack's three seconds: no retries that would outlast them.
    clientOptions: { slackApiUrl: deps.config.slack.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, timeout: 2500 },
  });
  // Slack's legacy verification token rides along in payloads; it has no business in Redis.
  const enqueue = (kind: SlackInboundJob['kind'], { token: _legacy, ...payload }: SlackPayload, key: string) =>
    enqueueInbound(deps.queue, deps.config, { teamId: ws.teamId, organizationId: ws.organizationId, kind, payload }, `${ws.teamId}:${key}`);

  app.event('message', async ({ event, body }) => {
    const m = event as unknown as Record<string, unknown>;
    // Only people's replies in a thread can be answers; bots (this one too), edits and joins never are.
    if (!isPersonReplyInThread(m, ws.botUserId)) return;
    const eventId = String((body as { event_id?: string }).event_id ?? `${m.channel}:${m.ts}`);
    await enqueue('message', { event: m, event_id: eventId }, eventId);
  });

  for (const actionId of Object.values(ACTIONS)) {
    app.action(actionId, async ({ ack, body, action }) => {
      const a = action as unknown as { action_ts?: string };
      const b = body as unknown as { user: { id: string }; container?: { message_ts?: string } };
      await enqueue('action', body as unknown as SlackPayload, `${b.container?.message_ts}:${b.user.id}:${a.action_ts ?? Date.now()}:${actionId}`);
      await ack();
    });
  }

  // Whatever the command is called in the app's settings (/ticket by default), it is this one.
  app.command(/.*/, async ({ ack, command, client, respond }) => {
    const text = command.text.trim();
    if (/^new\b/i.test(text)) {
      await ack();
      const answer = async (said: string) => {
        if (isSlackAddress(command.response_url, deps.config.slack.apiUrl)) await respond({ response_type: 'ephemeral', text: said });
      };
      // A trigger id lives three seconds: the form opens now (not awaited, so that the answer to Slack does not
      // wait for it), for agents only (nobody fills in a form to learn afterwards that it was for nothing); the
      // ticket is made when it is sent. A form that cannot open is explained to the person.
      void (async () => {
        const who = await deps.people.who(ws, client, command.user_id);
        if (!who.staff) return answer(notAgent(who, ws.language));
        await client.views.open({ trigger_id: command.trigger_id, view: newTicketModal(ws.language, text.replace(/^new\s*/i, '')) as never });
      })()
        .catch(async (err: unknown) => {
          const reason = (err as { data?: { error?: string } }).data?.error ?? (err as Error).message ?? String(err);
          log.warn({ team: ws.teamId, reason }, 'views.open failed');
          await answer(slackText('formFailed', ws.language, { reason, command: command.command }));
        })
        .catch((err: unknown) => log.warn({ team: ws.teamId, err: String(err) }, 'could not say that the form did not open'));
      return;
    }
    if (!/^#?\d+$/.test(text)) {
      await ack({ response_type: 'ephemeral', text: slackText('usage', ws.language, { command: command.command }) });
      return;
    }
    await enqueue('command', command as unknown as SlackPayload, command.trigger_id);
    await ack();
  });

  app.view(NEW_TICKET_CALLBACK, async ({ ack, body, view }) => {
    const read = readNewTicket(view.state.values as never, ws.language);
    if ('errors' in read) {
      await ack({ response_action: 'errors', errors: read.errors });
      return;
    }
    await enqueue('view', body as unknown as SlackPayload, `${view.id}:${view.hash}`);
    await ack();
  });

  app.shortcut(SHORTCUT_CALLBACK, async ({ ack, body }) => {
    const b = body as unknown as { trigger_id: string };
    // Each use is its own job (a first try by someone who is not an agent must not swallow an agent's); the
    // ticket is one per Slack message all the same, by the intake's idempotency.
    await enqueue('shortcut', body as unknown as SlackPayload, b.trigger_id);
    await ack();
  });

  // Rethrown, so that the receiver answers 500 and Slack tries again (events) or tells the person (actions).
  app.error(async (err) => {
    log.warn({ team: ws.teamId, err: String((err as Error).message ?? err) }, 'slack handler failed');
    throw err;
  });
  return { app, receiver };
}

/** A message event that a person wrote as a reply in a thread (files included), not a bot, an edit or a join. */
export function isPersonReplyInThread(m: Record<string, unknown>, botUserId: string): boolean {
  if (m.bot_id || m.bot_profile || m.app_id) return false;
  if (m.subtype !== undefined && m.subtype !== 'file_share' && m.subtype !== 'thread_broadcast') return false;
  if (typeof m.user !== 'string' || m.user === botUserId) return false;
  return typeof m.thread_ts === 'string' && m.thread_ts !== m.ts;
}

function signedBy(secret: string, timestamp: number, raw: Buffer, signature: string): boolean {
  const expected = Buffer.from(`v0=${createHmac('sha256', secret).update(`v0:${timestamp}:`).update(raw).digest('hex')}`);
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY) throw new HttpError(413, 'too_large', 'Slack requests are small; this one is over 1 MB.');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'too_large', 'Slack requests are small; this one is over 1 MB.');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function boltLogger(log: Logger): BoltLogger {
  let level = LogLevel.WARN;
  return {
    debug: (...m: unknown[]) => log.debug(m.map(String).join(' ')),
    info: (...m: unknown[]) => log.info(m.map(String).join(' ')),
    warn: (...m: unknown[]) => log.warn(m.map(String).join(' ')),
    error: (...m: unknown[]) => log.error(m.map(String).join(' ')),
    setLevel: (l: LogLevel) => { level = l; },
    getLevel: () => level,
    setName: () => undefined,
  };
}
