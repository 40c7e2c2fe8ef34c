import Router from '@koa/router';
import { decodeRequestId, type ApiCaller } from '../../channels/api/inbound.ts';
import { intakeJobId } from '../../workers/queues.ts';
import { HttpError, failureToHttp } from '../http-error.ts';
import type { ApiDeps } from './deps.ts';

/** Where a request answered 202 stands: committed (with the result), pending, or failed (with the reason). */
export function requestRoutes(deps: ApiDeps): Router {
  const router = new Router();
  router.get('/requests/:id', async (ctx) => {
    const caller = ctx.state.actor as ApiCaller;
    const externalId = decodeRequestId(caller, ctx.params.id!);
    if (!externalId) throw new HttpError(404, 'not_found', 'No such request.');
    const outcome = await deps.intakeStore.findOutcome(caller.organizationId, 'api', externalId);
    if (outcome) {
      const ticket = await deps.queries.getById(caller.organizationId, outcome.ticketId);
      if (!ticket || (caller.role === 'customer' && !(await deps.queries.get(caller, ticket.number)))) {
        throw new HttpError(404, 'not_found', 'No such request.');
      }
      ctx.body = {
        status: 'committed',
        ticket: outcome.openedTicket ? ticket : { number: ticket.number },
        ...(outcome.openedTicket ? {} : { message: await deps.queries.message(caller, outcome.messageId) }),
      };
      return;
    }
    const job = await deps.producer.state(intakeJobId(caller.organizationId, 'api', externalId));
    if (job.state === 'unknown' || job.organizationId !== caller.organizationId) throw new HttpError(404, 'not_found', 'No such request.');
    if (job.state === 'failed') {
      const http = failureToHttp(job.reason ?? 'unknown');
      ctx.body = { status: 'failed', error: { code: http.code, message: http.message } };
      return;
    }
    ctx.status = 202;
    // A job being retried tells why its last try failed, in the words a client may see.
    const last = job.reason ? failureToHttp(job.reason) : undefined;
    ctx.body = { status: 'pending', state: job.state, ...(last ? { last_error: last.message } : {}) };
  });
  return router;
}
