import Router from '@koa/router';
import { z } from 'zod';
import type { ApiCaller } from '../../channels/api/inbound.ts';
import { MailStore } from '../../persistence/mail-store.ts';
import { Mailboxes } from '../../persistence/mailboxes.ts';
import { SecretBox } from '../../security/secret-box.ts';
import { Signer } from '../../security/signed-tokens.ts';
import { baseAddress } from '../../channels/email/automatic.ts';
import { takeMail } from '../../channels/email/inbound.ts';
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
  router.post('/mail/inbound/:id/release', async (ctx) => {
    const caller = admin(ctx);
    const id = validate(z.string().uuid(), ctx.params.id, 'id');
    const held = await store.releaseHeld(caller.organizationId, id);
    if (!held) throw new HttpError(404, 'not_found', 'No held mail with this id (only mails held by the sender limit can be released).');
    const mailboxes = new Mailboxes(deps.orm, new SecretBox(deps.secret));
    const mailbox = held.mailboxId ? await mailboxes.byId(held.mailboxId) : null;
    if (!mailbox) {
      await store.record(held);
      throw new HttpError(409, 'conflict', 'The mailbox this mail came in at was removed; the mail cannot be taken again.');
    }
    let result;
    try {
      const raw = await readAll(await deps.storage.open(held.rawStorageKey));
      result = await takeMail({
        config: deps.config, store, storage: deps.storage, signer: new Signer(deps.secret), logger: deps.logger,
        submit: (event) => deps.producer.submitAndWait(event, 60_000),
        ownAddresses: async () => new Set([...(await mailboxes.allAddresses())].map(baseAddress)),
      }, mailbox, raw, { ignoreSenderLimit: true });
    } catch (err) {
      // Not taken after all (the queue or database is away): it stays held, to be released again.
      await store.record(held);
      throw err;
    }
    ctx.body = { status: result.status, ticket: result.ticketNumber ?? null, message_id_header: result.messageId };
  });
  return router;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
