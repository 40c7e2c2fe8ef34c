import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { toHttpError } from '../http-error.ts';

/**
 * Every error becomes JSON: `{ "error": { "code", "message", "field"? } }`. Client errors explain
 * themselves; server errors are logged with the request id and answered with a generic message.
 */
export function errorMiddleware(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const http = toHttpError(err);
      if (http) {
        ctx.status = http.status;
        ctx.set(http.headers);
        const details = (http as { details?: unknown }).details;
        ctx.body = { error: { code: http.code, message: http.message, ...(http.field ? { field: http.field } : {}), ...(details ? { details } : {}) } };
        if (http.status >= 500) logger.warn({ reqId: ctx.state.requestId, err: http.message }, 'request refused');
        return;
      }
      logger.error({ reqId: ctx.state.requestId, err }, 'request failed');
      ctx.status = 500;
      ctx.body = { error: { code: 'internal', message: `Something went wrong on our side (request ${ctx.state.requestId}). It has been logged; please try again.` } };
    }
  };
}
