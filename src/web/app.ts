import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import Koa from 'koa';
import type { Redis } from 'ioredis';
import { HttpError } from './http-error.ts';
import { requireApiKey } from './middleware/auth.ts';
import { errorMiddleware } from './middleware/errors.ts';
import { openApiDocument } from './openapi.ts';
import { attachmentRoutes } from './routes/attachments.ts';
import type { ApiDeps } from './routes/deps.ts';
import { directoryRoutes } from './routes/directory.ts';
import { mailRoutes } from './routes/mail.ts';
import { objectRoutes } from './routes/objects.ts';
import { formRoutes } from './routes/forms.ts';
import { healthRoutes } from './routes/health.ts';
import { requestRoutes } from './routes/requests.ts';
import { ticketRoutes } from './routes/tickets.ts';

export interface AppDeps extends ApiDeps {
  /** The producer connection, for the readiness probe. */
  redis: Redis;
  /** Routes channels receive on (e.g. Telegram's webhook), outside the API and its keys. */
  channelRoutes?: Router[];
}

/** The web application, without listening: tests drive `app.callback()`, main.ts puts it on a port. */
export function createApp(deps: AppDeps): Koa {
  const app = new Koa();
  // Errors are answered by errorMiddleware; Koa's own printer would only duplicate them.
  app.silent = true;
  // Behind a proxy the client's address (rate limits) and scheme (Secure cookies) come from its headers.
  app.proxy = deps.config.trustProxy;

  app.use(async (ctx, next) => {
    const incoming = ctx.get('x-request-id');
    ctx.state.requestId = /^[\w.-]{1,100}$/.test(incoming) ? incoming : randomUUID();
    ctx.set('X-Request-Id', ctx.state.requestId);
    const started = performance.now();
    await next();
    if (ctx.body === undefined && ctx.status === 404) {
      ctx.status = 404;
      ctx.body = { error: { code: 'not_found', message: `No route for ${ctx.method} ${ctx.path}. The API lives under /api/v1 (see /api/v1/openapi.json).` } };
    } else if (ctx.body === undefined && ctx.status === 405) {
      ctx.body = { error: { code: 'method_not_allowed', message: `${ctx.method} is not allowed here; allowed: ${ctx.response.get('Allow')}.` } };
    } else if ((ctx.body === undefined || ctx.body === null) && ctx.status >= 400 && ctx.method !== 'HEAD') {
      const status = ctx.status;
      ctx.body = { error: { code: 'http_' + status, message: STATUS_CODES[status] ?? 'Error' } };
      ctx.status = status;
    }
    if (ctx.status >= 500) deps.logger.warn({ reqId: ctx.state.requestId, method: ctx.method, path: ctx.path, status: ctx.status }, 'request answered with an error');
    else if (deps.logger.isLevelEnabled('debug')) deps.logger.debug({ reqId: ctx.state.requestId, method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(performance.now() - started) }, 'request');
  });
  app.use(errorMiddleware(deps.logger));

  const root = new Router();
  root.use(healthRoutes({ orm: deps.orm, redis: deps.redis }).routes());
  for (const routes of deps.channelRoutes ?? []) root.use(routes.routes(), routes.allowedMethods());

  const api = new Router({ prefix: '/api/v1' });
  const openapi = openApiDocument();
  api.get('/openapi.json', (ctx) => {
    ctx.body = openapi;
  });
  // Only callers with a key get their bodies read.
  api.use(requireApiKey(deps.keys));
  api.use(bodyParser({
    enableTypes: ['json'],
    jsonLimit: deps.config.jsonMaxBytes,
    onError: (err) => {
      const status = (err as { status?: number }).status;
      if (status === 413) throw new HttpError(413, 'too_large', `The JSON body is larger than ${deps.config.jsonMaxBytes} bytes.`);
      if (status === 415) throw new HttpError(415, 'unsupported_media_type', err.message);
      throw new HttpError(400, 'malformed_json', `Malformed JSON: ${err.message}`);
    },
  }));
  for (const routes of [ticketRoutes(deps), requestRoutes(deps), attachmentRoutes(deps), objectRoutes(deps), formRoutes(deps), directoryRoutes(deps), mailRoutes(deps)]) {
    api.use(routes.routes(), routes.allowedMethods());
  }
  root.use(api.routes(), api.allowedMethods());
  app.use(root.routes());
  app.use(root.allowedMethods());
  return app;
}
