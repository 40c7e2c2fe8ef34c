import Router from '@koa/router';
import type { ApiCaller } from '../../channels/api/inbound.ts';
import { listDirectory, type DirectoryList } from '../../persistence/directory.ts';
import { validate } from '../body.ts';
import { HttpError } from '../http-error.ts';
import { pageQuery } from '../schemas.ts';
import type { ApiDeps } from './deps.ts';

/** The organization's people and reference data, which tickets point at by id. */
export function directoryRoutes(deps: ApiDeps): Router {
  const router = new Router();
  const lists: Array<[DirectoryList, boolean]> = [['users', true], ['categories', false], ['services', false], ['objects', false]];
  for (const [list, staffOnly] of lists) {
    router.get(`/${list}`, async (ctx) => {
      const caller = ctx.state.actor as ApiCaller;
      if (staffOnly && caller.role === 'customer') throw new HttpError(403, 'forbidden', `Only agents and admins can list ${list}.`);
      const q = validate(pageQuery, ctx.query);
      const { data, total } = await listDirectory(deps.orm, list, caller.organizationId, q.page, q.per_page);
      ctx.body = { data, page: q.page, per_page: q.per_page, total };
    });
  }
  return router;
}
