import Router from '@koa/router';
import { z } from 'zod';
import type { ApiCaller } from '../../channels/api/inbound.ts';
import { MailStore } from '../../persistence/mail-store.ts';
import { validate } from '../body.ts';
import { HttpError } from '../http-error.ts';
import { pageQuery } from '../schemas.ts';
import type { ApiDeps } from './deps.ts';

const INBOUND_STATUSES = ['ticket', 'message', 'automatic', 'bounce', 'held', 'failed'] as const;
const mailLogQuery = pageQuery.extend({ status: z.enum(INBOUND_STATUSES).optional() });

/**
 * What became of every incoming mail (admins only): which ticket it made or joined and by which rule, or
 * why it made none; the raw source of mail that was held or failed.
 */
export function mailRoutes(deps: ApiDeps): Router {
  const router = new Router();
  const store = new MailStore(deps.orm);
  const admin = (ctx: { state: { actor?: unknown } }) => {
    const caller = ctx.state.actor as ApiCaller;
    if (caller.role !== 'admin') throw new HttpError(403, 'forbidden', 'Only admins can read the mail log.');
    return caller;
  };
  router.get('/mail/inbound', async (ctx) => {
    const caller = admin(ctx);
    const q = validate(mailLogQuery, ctx.query);
    const rows = await store.log(caller.organizationId, { status: q.status, limit: q.per_page, offset: (q.page - 1) * q.per_page });
    ctx.body = {
      data: rows.map(({ total: _total, raw_storage_key: raw, ...row }) => ({ ...row, has_raw: Boolean(raw) })),
      page: q.page, per_page: q.per_page, total: rows[0] ? Number(rows[0].total) : 0,
    };
  });
  router.get('/mail/inbound/:id/raw', async (ctx) => {
    const caller = admin(ctx);
    const id = validate(z.string().uuid(), ctx.params.id, 'id');
    const key = await store.rawKey(caller.organizationId, id);
    if (!key) throw new HttpError(404, 'not_found', 'No kept source for this mail: only held and failed mails keep theirs.');
    ctx.set('Content-Type', 'message/rfc822');
    ctx.set('Content-Disposition', `attachment; filename="mail-${id}.eml"`);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.body = await deps.storage.open(key);
  });
  return router;
}
