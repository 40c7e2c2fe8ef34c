import Router from '@koa/router';
import type { Context } from 'koa';
import { apiExternalId, commentEvent, encodeRequestId, requestHash, ticketEvent, type ApiCaller } from '../../channels/api/inbound.ts';
import type { IntakeOutcome } from '../../core/intake-event.ts';
import { missingReferences } from '../../persistence/ticket-queries.ts';
import { enqueueNotifications } from '../../workers/notify-producer.ts';
import type { SubmitResult } from '../../workers/intake-producer.ts';
import { readJsonObject, readPayload, validate } from '../body.ts';
import { HttpError, failureToHttp } from '../http-error.ts';
import { createCommentBody, createTicketBody, listTicketsQuery, pageQuery, patchTicketBody, ticketNumberParam } from '../schemas.ts';
import type { ApiDeps } from './deps.ts';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;

export function ticketRoutes(deps: ApiDeps): Router {
  const router = new Router();
  const limits = { maxBytes: deps.config.attachmentMaxBytes, maxFiles: deps.config.attachmentMaxFiles };

  router.post('/tickets', async (ctx) => {
    const caller = actorOf(ctx);
    const payload = await readPayload(ctx, deps.storage, limits);
    const body = validate(createTicketBody, payload.fields);
    if (caller.role === 'customer') {
      if (body.reporter) throw new HttpError(403, 'forbidden', 'Customers open tickets for themselves; "reporter" is for agents and admins.', 'reporter');
      if (body.priority) throw new HttpError(403, 'forbidden', 'Customers cannot set the priority; an agent triages the ticket.', 'priority');
      if (body.deadline) throw new HttpError(403, 'forbidden', 'Customers cannot set the deadline; an agent agrees it.', 'deadline');
    }
    const missing = await missingReferences(deps.orm, caller.organizationId, body);
    if (missing.length > 0) throw new HttpError(422, 'invalid_field', `${missing[0]}: no such ${missing[0]} in this organization`, missing[0]);
    await submit(ctx, caller, 'POST /tickets', body, payload.files, (externalId, hash) => ticketEvent(caller, body, payload.files, externalId, hash));
  });

  router.post('/tickets/:number/comments', async (ctx) => {
    const caller = actorOf(ctx);
    const number = validate(ticketNumberParam, ctx.params.number, 'number');
    const ticket = await deps.queries.get(caller, number);
    if (!ticket) throw notFound(number);
    const payload = await readPayload(ctx, deps.storage, limits);
    const body = validate(createCommentBody, payload.fields);
    if (body.body.trim() === '' && payload.files.length === 0) {
      throw new HttpError(422, 'invalid_field', 'body: a comment needs text or at least one attachment', 'body');
    }
    if (body.internal && caller.role === 'customer') {
      throw new HttpError(403, 'forbidden', 'Customers cannot write internal notes.', 'internal');
    }
    await submit(ctx, caller, `POST /tickets/${number}/comments`, body, payload.files, (externalId, hash) => commentEvent(caller, number, body, payload.files, externalId, hash));
  });

  router.get('/tickets', async (ctx) => {
    const caller = actorOf(ctx);
    const q = validate(listTicketsQuery, ctx.query);
    const { data, total } = await deps.queries.list(caller, {
      ...q,
      assignee: q.assignee === 'me' ? caller.userId : q.assignee,
      perPage: q.per_page,
    });
    ctx.body = { data, page: q.page, per_page: q.per_page, total };
  });

  router.get('/tickets/:number', async (ctx) => {
    const caller = actorOf(ctx);
    const number = validate(ticketNumberParam, ctx.params.number, 'number');
    const q = validate(pageQuery, ctx.query);
    const ticket = await deps.queries.get(caller, number);
    if (!ticket) throw notFound(number);
    const messages = await deps.queries.messages(caller, ticket.id, q.page, q.per_page);
    ctx.body = { ...ticket, messages: { ...messages, page: q.page, per_page: q.per_page } };
  });

  router.get('/tickets/:number/events', async (ctx) => {
    const caller = actorOf(ctx);
    if (caller.role === 'customer') throw new HttpError(403, 'forbidden', 'The audit trail is for agents and admins.');
    const number = validate(ticketNumberParam, ctx.params.number, 'number');
    const q = validate(pageQuery, ctx.query);
    const ticket = await deps.queries.get(caller, number);
    if (!ticket) throw notFound(number);
    const events = await deps.queries.events(caller, ticket.id, q.page, q.per_page);
    ctx.body = { ...events, page: q.page, per_page: q.per_page };
  });

  router.patch('/tickets/:number', async (ctx) => {
    const caller = actorOf(ctx);
    const number = validate(ticketNumberParam, ctx.params.number, 'number');
    const body = validate(patchTicketBody, readJsonObject(ctx));
    const { ticketId, notificationIds } = await deps.updates.update(caller, number, {
      status: body.status,
      priority: body.priority,
      deadline: body.deadline,
      categoryId: body.category,
      assigneeId: body.assignee,
    }, 'api');
    await enqueueNotifications(deps.notifyQueue, deps.config, notificationIds).catch((err) =>
      deps.logger.warn({ err: String(err) }, 'could not queue notifications; the sweeper will'));
    ctx.body = await deps.queries.getById(caller.organizationId, ticketId);
  });

  /**
   * Puts an intake event on the queue (or finds the one an Idempotency-Key already made) and answers with
   * what came of it: 201 when committed in time, 202 with a link otherwise.
   */
  async function submit(
    ctx: Context, caller: ApiCaller, route: string, fields: unknown, files: Parameters<typeof requestHash>[2],
    build: (externalId: string, hash: string) => Parameters<typeof deps.producer.submit>[0],
  ): Promise<void> {
    const key = ctx.get('idempotency-key') || undefined;
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
      throw new HttpError(400, 'bad_request', 'Idempotency-Key must be 1 to 200 visible ASCII characters.');
    }
    const hash = requestHash(route, fields, files);
    const externalId = apiExternalId(caller, key);
    if (key) {
      const prior = await deps.intakeStore.findOutcome(caller.organizationId, 'api', externalId);
      if (prior) return answer(ctx, caller, { state: 'committed', jobId: '', outcome: prior }, hash, externalId, true);
    }
    const wantsAsync = /respond-async/i.test(ctx.get('prefer'));
    const result = await deps.producer.submitAndWait(build(externalId, hash), wantsAsync ? 0 : deps.config.intakeWaitMs);
    // The same key may still be queued with another body: BullMQ kept the first job and dropped this one.
    if (key && result.state === 'pending' && (await deps.producer.storedRequestHash(result.jobId)) !== hash) {
      throw reusedKey();
    }
    await answer(ctx, caller, result, hash, externalId, false);
  }

  async function answer(ctx: Context, caller: ApiCaller, result: SubmitResult, hash: string, externalId: string, replayed: boolean): Promise<void> {
    if (result.state === 'pending') {
      const link = `/api/v1/requests/${encodeRequestId(externalId)}`;
      ctx.status = 202;
      ctx.set('Location', link);
      ctx.body = { status: 'pending', request: link, message: 'Accepted; the ticket is being written. Follow the link for the result.' };
      return;
    }
    if (result.state === 'failed') throw failureToHttp(result.reason);
    const outcome: IntakeOutcome = result.outcome;
    if (outcome.requestHash && outcome.requestHash !== hash) throw reusedKey();
    if (replayed || !outcome.created) ctx.set('Idempotent-Replayed', 'true');
    ctx.status = 201;
    if (outcome.openedTicket) {
      ctx.set('Location', `/api/v1/tickets/${outcome.ticketNumber}`);
      ctx.body = outcome.created && outcome.view ? outcome.view : await deps.queries.getById(caller.organizationId, outcome.ticketId);
    } else {
      ctx.set('Location', `/api/v1/tickets/${outcome.ticketNumber}`);
      ctx.body = { ticket: outcome.ticketNumber, ...(await deps.queries.message(caller, outcome.messageId)) };
    }
  }

  return router;
}

function reusedKey(): HttpError {
  return new HttpError(422, 'idempotency_key_reused', 'This Idempotency-Key was already used with a different request body. Use a new key for a new request.');
}

function actorOf(ctx: Context): ApiCaller {
  return ctx.state.actor as ApiCaller;
}

function notFound(number: number): HttpError {
  return new HttpError(404, 'not_found', `Ticket #${number} does not exist.`);
}
