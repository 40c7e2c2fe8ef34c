import Router from '@koa/router';
import type { ApiCaller } from '../../channels/api/inbound.ts';
import { withSql } from '../../persistence/sql.ts';
import { validate } from '../body.ts';
import { HttpError } from '../http-error.ts';
import { pageQuery } from '../schemas.ts';
import type { ApiDeps } from './deps.ts';

/** The organization's people and reference data, which tickets point at by id. */
export function directoryRoutes(deps: ApiDeps): Router {
  const router = new Router();
  const list = (path: string, sql: string, staffOnly: boolean) => {
    router.get(path, async (ctx) => {
      const caller = ctx.state.actor as ApiCaller;
      if (staffOnly && caller.role === 'customer') throw new HttpError(403, 'forbidden', 'Only agents and admins can list users.');
      const q = validate(pageQuery, ctx.query);
      const rows = await withSql(deps.orm, (db) => db.rows<Record<string, unknown> & { total: string }>(
        `${sql} LIMIT $2 OFFSET $3`, [caller.organizationId, q.per_page, (q.page - 1) * q.per_page]));
      ctx.body = {
        data: rows.map(({ total: _total, ...row }) => row),
        page: q.page,
        per_page: q.per_page,
        total: rows[0] ? Number(rows[0].total) : 0,
      };
    });
  };
  list('/users', `SELECT count(*) OVER () AS total, id, email, name, role, locale, created_at
                    FROM users WHERE organization_id = $1 ORDER BY name, id`, true);
  list('/categories', `SELECT count(*) OVER () AS total, id, parent_id AS parent, name
                         FROM categories WHERE organization_id = $1 ORDER BY parent_id NULLS FIRST, name, id`, false);
  list('/services', `SELECT count(*) OVER () AS total, id, name, description
                       FROM services WHERE organization_id = $1 ORDER BY name, id`, false);
  list('/objects', `SELECT count(*) OVER () AS total, id, name, kind, address, description
                      FROM objects WHERE organization_id = $1 ORDER BY name, id`, false);
  return router;
}
