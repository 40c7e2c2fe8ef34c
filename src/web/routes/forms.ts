import Router from '@koa/router';
import { z } from 'zod';
import type { ApiCaller } from '../../channels/api/inbound.ts';
import { WEB_FORM_FIELDS, WebForms, type WebFormConfig } from '../../persistence/web-forms.ts';
import { readJsonObject, validate } from '../body.ts';
import { HttpError } from '../http-error.ts';
import type { ApiDeps } from './deps.ts';

const createFormBody = z.strictObject({
  title: z.string().trim().max(200).default(''),
  fields: z.array(z.enum(WEB_FORM_FIELDS)).min(1).refine((f) => f.includes('description') || f.includes('files'), 'needs description or files, or the form asks nothing'),
});

/** Website request forms: admins create them and get the snippet to paste into their site. */
export function formRoutes(deps: ApiDeps): Router {
  const router = new Router();
  const forms = new WebForms(deps.orm);
  const show = (f: WebFormConfig) => {
    const url = `${deps.config.publicUrl}/f/${f.token}`;
    return {
      id: f.id, title: f.title, fields: f.fields, url, created_at: f.createdAt,
      embed: {
        iframe: `<iframe src="${url}" title="${f.title.replace(/"/g, '&quot;') || 'Request form'}" style="width:100%;min-height:640px;border:0" loading="lazy"></iframe>`,
        script: `<script src="${url}/embed.js" async></script>`,
      },
    };
  };
  router.post('/forms', async (ctx) => {
    const caller = ctx.state.actor as ApiCaller;
    if (caller.role !== 'admin') throw new HttpError(403, 'forbidden', 'Only admins create website forms.');
    const body = validate(createFormBody, readJsonObject(ctx));
    ctx.status = 201;
    ctx.body = show(await forms.create(caller.organizationId, body.title, [...new Set(body.fields)]));
  });
  router.get('/forms', async (ctx) => {
    const caller = ctx.state.actor as ApiCaller;
    if (caller.role === 'customer') throw new HttpError(403, 'forbidden', 'Only agents and admins see website forms.');
    ctx.body = { data: (await forms.list(caller.organizationId)).map(show) };
  });
  return router;
}
