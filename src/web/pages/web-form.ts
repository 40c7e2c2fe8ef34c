import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Redis } from 'ioredis';
import type { MikroORM } from '@mikro-orm/postgresql';
import { z } from 'zod';
import type { Config } from '../../config/index.ts';
import type { IntakeEventInput } from '../../core/intake-event.ts';
import type { AttachmentStorage } from '../../core/ports.ts';
import { WebForms, type WebFormConfig } from '../../persistence/web-forms.ts';
import { Signer } from '../../security/signed-tokens.ts';
import type { IntakeProducer } from '../../workers/intake-producer.ts';
import { readPayload } from '../body.ts';
import { HttpError } from '../http-error.ts';
import { DomainError } from '../../core/errors.ts';
import { html } from './html.ts';
import { pageLocale, t, type PageLocale } from './i18n.ts';
import { page } from './layout.ts';
import { cutText } from '../../core/text.ts';

export interface WebFormDeps { config: Config; orm: MikroORM; storage: AttachmentStorage; producer: IntakeProducer; redis: Redis; secret: string }

const TOKEN_TTL_MS = 2 * 3600 * 1000;
const PER_ADDRESS = 10;

/**
 * The request form organizations embed on their own sites (`/f/<form token>`, in an iframe or through a script
 * tag). Framed on another site, it cannot count on cookies: each rendering carries a signed, expiring form
 * token whose nonce is also the submission's idempotency key; a honeypot and rate limits keep robots out.
 */
export function webFormRoutes(deps: WebFormDeps): Router {
  const router = new Router();
  const signer = new Signer(deps.secret);
  const forms = new WebForms(deps.orm);

  const headers = (ctx: Context) => {
    // Any site may frame the form; nothing else is loaded, and no script runs in it.
    ctx.set('Content-Security-Policy', "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors *");
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'text/html; charset=utf-8';
  };
  const noForm = (ctx: Context, locale: PageLocale) => {
    ctx.status = 404;
    ctx.body = page(ctx, locale, '404', html`<p class="card">${t(locale, 'noForm')}</p>`).value;
  };
  const formToken = (form: WebFormConfig) => {
    const issued = Date.now();
    const nonce = randomBytes(12).toString('hex');
    return `${issued}.${nonce}.${signer.sign('web-form', `${form.token}:${issued}:${nonce}`)}`;
  };
  const checkToken = (form: WebFormConfig, value: unknown): string | null => {
    const [issued, nonce, sig] = String(value ?? '').split('.');
    if (!issued || !nonce || !sig || !/^[0-9a-f]{24}$/.test(nonce)) return null;
    if (!signer.verify('web-form', `${form.token}:${issued}:${nonce}`, sig)) return null;
    return Date.now() - Number(issued) <= TOKEN_TTL_MS ? nonce : null;
  };

  const render = async (ctx: Context, locale: PageLocale, form: WebFormConfig, values: Partial<Record<string, string>> = {}, error?: string) => {
    const choices = form.fields.some((f) => f === 'object' || f === 'kind') ? await forms.choices(form.organizationId) : { objects: [], kinds: [] };
    const has = (f: string) => form.fields.includes(f as never);
    const select = (name: string, label: string, options: Array<{ id: string; name: string }>) => html`
      <label for="${name}">${label}</label><select id="${name}" name="${name}" style="width:100%;padding:12px;border-radius:8px">
      <option value="">${t(locale, 'choose')}</option>${options.map((o) => html`<option value="${o.id}"${values[name] === o.id ? html` selected` : ''}>${o.name}</option>`)}</select>`;
    return page(ctx, locale, form.title || form.organizationName, html`
      <h1>${form.title || form.organizationName}</h1>
      ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
      <form method="post" action="/f/${form.token}?lang=${locale}" enctype="multipart/form-data" class="card">
        <input type="hidden" name="ft" value="${formToken(form)}">
        <div class="hp" aria-hidden="true"><label>Website <input type="text" name="website" tabindex="-1" autocomplete="off"></label></div>
        ${has('name') ? html`<label for="name">${t(locale, 'yourName')}</label><input id="name" name="name" maxlength="200" autocomplete="name" value="${values.name ?? ''}" style="width:100%;padding:12px;border:1px solid #c7cfdb;border-radius:8px">` : ''}
        ${has('email') ? html`<label for="email">${t(locale, 'email')}</label><input id="email" type="email" name="email" autocomplete="email" value="${values.email ?? ''}">` : ''}
        ${has('phone') ? html`<label for="phone">${t(locale, 'phone')}</label><input id="phone" type="tel" name="phone" autocomplete="tel" value="${values.phone ?? ''}" style="width:100%;padding:12px;border:1px solid #c7cfdb;border-radius:8px">` : ''}
        ${has('object') && choices.objects.length ? select('object', t(locale, 'object'), choices.objects) : ''}
        ${has('kind') && choices.kinds.length ? select('kind', t(locale, 'kind'), choices.kinds) : ''}
        ${has('description') ? html`<label for="text">${t(locale, 'whatsWrong')}</label><textarea id="text" name="text" maxlength="10000">${values.text ?? ''}</textarea>` : ''}
        ${has('files') ? html`<label for="files">${t(locale, 'files')}</label><input id="files" type="file" name="files" multiple>` : ''}
        <p><button type="submit">${t(locale, 'send')}</button></p>
      </form>`).value;
  };

  router.get('/f/:token/embed.js', async (ctx) => {
    const form = await forms.byToken(String(ctx.params.token));
    if (!form) {
      ctx.status = 404;
      return;
    }
    ctx.type = 'application/javascript; charset=utf-8';
    ctx.set('Cache-Control', 'public, max-age=300');
    const src = JSON.stringify(`${deps.config.publicUrl}/f/${form.token}`);
    const title = JSON.stringify(form.title || 'Request form');
    // Puts the hosted form in an iframe where the script tag stands.
    ctx.body = `(function(){var s=document.currentScript;var f=document.createElement('iframe');f.src=${src};f.title=${title};` +
      `f.loading='lazy';f.style.cssText='width:100%;min-height:640px;border:0';s.parentNode.insertBefore(f,s);})();\n`;
  });

  router.get('/f/:token', async (ctx) => {
    const locale = pageLocale(ctx, { remember: false });
    const form = await forms.byToken(String(ctx.params.token));
    headers(ctx);
    if (!form) return noForm(ctx, locale);
    ctx.body = await render(ctx, locale, form);
  });

  router.post('/f/:token', async (ctx) => {
    const locale = pageLocale(ctx, { remember: false });
    const form = await forms.byToken(String(ctx.params.token));
    headers(ctx);
    if (!form) return noForm(ctx, locale);
    if (!ctx.is('multipart/form-data')) {
      ctx.status = 415;
      ctx.body = await render(ctx, locale, form, {}, t(locale, 'expired'));
      return;
    }
    // Counted before the body is read, so that a flood of uploads is refused before it is stored.
    if (!(await withinLimit(deps, `ip:${ctx.ip}`))) {
      ctx.status = 429;
      ctx.body = await render(ctx, locale, form, {}, t(locale, 'tooMany'));
      return;
    }
    let payload: Awaited<ReturnType<typeof readPayload>>;
    try {
      payload = await readPayload(ctx, deps.storage, { maxBytes: deps.config.attachmentMaxBytes, maxFiles: form.fields.includes('files') ? 10 : 0 });
    } catch (err) {
      if (!(err instanceof HttpError) && !(err instanceof DomainError)) throw err;
      ctx.status = 413;
      ctx.body = await render(ctx, locale, form, {}, t(locale, 'tooBig'));
      return;
    }
    const { fields, files } = payload;
    const field = (k: string) => String(fields[k] ?? '').trim();
    const values = { name: field('name'), email: field('email'), phone: field('phone'), object: field('object'), kind: field('kind'), text: field('text') };
    const again = async (status: number, error: string) => {
      ctx.status = status;
      ctx.body = await render(ctx, locale, form, values, error);
    };
    const nonce = checkToken(form, fields.ft);
    if (!nonce) return again(403, t(locale, 'expired'));
    if (String(fields.website ?? '') !== '') {
      ctx.body = page(ctx, locale, form.title, html`<div class="card"><p>${t(locale, 'thanksLater')}</p></div>`).value;
      return;
    }
    const photos = files.filter((f) => f.size > 0);
    if (!values.text && photos.length === 0) return again(422, t(locale, 'needText'));
    if (values.email && !z.string().email().max(320).safeParse(values.email).success) return again(422, t(locale, 'needEmail'));
    const phoneOk = values.phone.replace(/\D/g, '').length >= 5;
    if ((form.fields.includes('email') || form.fields.includes('phone')) && !values.email && !phoneOk) return again(422, t(locale, 'needContact'));
    if (values.email && !(await withinLimit(deps, `email:${values.email.toLowerCase()}`))) return again(429, t(locale, 'tooMany'));
    const choices = await forms.choices(form.organizationId);
    const objectId = choices.objects.find((o) => o.id === values.object)?.id;
    const kindId = choices.kinds.find((k) => k.id === values.kind)?.id;
    const name = cutText(values.name, 200) || undefined;
    const sender: IntakeEventInput['sender'] = values.email
      ? { kind: 'email', address: values.email, name, locale }
      : phoneOk ? { kind: 'phone', address: values.phone, name, locale } : { kind: 'web', address: `webform:${nonce}`, name, locale };
    const firstLine = cutText(values.text.split('\n')[0]!, 120);
    const event: IntakeEventInput = {
      organizationId: form.organizationId,
      channel: 'web',
      externalId: `webform:${nonce}`,
      sender,
      subject: firstLine || form.title || undefined,
      text: [values.text, values.email && phoneOk ? `${t(locale, 'phone')}: ${values.phone}` : ''].filter(Boolean).join('\n\n') || '—',
      fields: { ...(objectId ? { objectId } : {}), ...(kindId ? { categoryId: kindId } : {}) },
      attachments: photos,
      metadata: { webForm: { form: form.id, ...(values.phone ? { phone: values.phone } : {}) } },
      receivedAt: new Date().toISOString(),
    };
    const result = await deps.producer.submitAndWait(event, deps.config.intakeWaitMs);
    if (result.state === 'failed') return again(422, t(locale, 'expired'));
    const done = result.state === 'committed' ? t(locale, 'thanks', { number: result.outcome.ticketNumber }) : t(locale, 'thanksLater');
    ctx.body = page(ctx, locale, form.title, html`<div class="card"><p><strong>${done}</strong></p>${values.email ? html`<p class="muted">${t(locale, 'mailSent', { email: values.email })}</p>` : ''}</div>`).value;
  });
  return router;
}

async function withinLimit(deps: WebFormDeps, who: string): Promise<boolean> {
  const key = `${deps.config.queuePrefix}:rl:webform:${who}`;
  const [[, count]] = (await deps.redis.multi().incr(key).expire(key, 600, 'NX').exec()) as [[unknown, number]];
  return count <= PER_ADDRESS;
}
