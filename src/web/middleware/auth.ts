import type { Middleware } from 'koa';
import type { ApiKeys } from '../../persistence/api-keys.ts';
import { HttpError } from '../http-error.ts';

/** Requires `Authorization: Bearer <api key>` and puts the key's user on `ctx.state.actor`. */
export function requireApiKey(keys: ApiKeys): Middleware {
  return async (ctx, next) => {
    const header = ctx.get('authorization');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) {
      throw new HttpError(401, 'unauthenticated', 'Missing API key. Send `Authorization: Bearer <key>`; an admin creates keys with `npm run cli -- apikey create`.', undefined, { 'WWW-Authenticate': 'Bearer' });
    }
    ctx.state.actor = await keys.authenticate(match[1]!);
    await next();
  };
}
