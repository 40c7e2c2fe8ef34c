import Router from '@koa/router';
import type { Context } from 'koa';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Config } from '../../config/index.ts';
import type { IntakeEventInput } from '../../core/intake-event.ts';
import type { AttachmentStorage } from '../../core/ports.ts';
import type { MikroORM } from '@mikro-orm/postgresql';
import { passportByToken, type Passport } from '../../persistence/objects.ts';
import { Followers } from '../../persistence/followers.ts';
import { Signer } from '../../security/signed-tokens.ts';
import type { IntakeProducer } from '../../workers/intake-producer.ts';
import { readPayload } from '../body.ts';
import { HttpError } from '../http-error.ts';
import { DomainError } from '../../core/errors.ts';
import { csrfToken, csrfValid, visitorId } from './csrf.ts';
import { formFields } from './form.ts';
import { html, type Html } from './html.ts';
import { pageLocale, statusLabel, t, type PageLocale } from './i18n.ts';
import { page, pageHeaders } from './layout.ts';
import { cutText } from '../../core/text.ts';

export interface PassportDeps {
  config: Config;
  orm: MikroORM;
  storage: AttachmentStorage;
  producer: IntakeProducer;
  redis: Redis;
  secret: string;
}

const REPORTS_PER_ADDRESS = 10;
const WINDOW_SECONDS = 600;
const PHOTO_TYPES = /^image\/(jpeg|png|webp|gif|heic|heif|avif)$/;

/**
 * An object's passport (`/o/<token>`), for the phone that scanned its QR code: what it is, its open requests
 * (no names, no contact data), and a short form to report a problem, working without JavaScript.
 */
export function passportRoutes(deps: PassportDeps): Router {
  const router = new Router();
  const signer = new Signer(deps.secret);

  const load = async (ctx: Context, locale: PageLocale, withOpen = true): Promise<Passport | null> => {
    const p = await passportByToken(deps.orm, String(ctx.params.token), { withOpen });
    if (!p) {
      pageHeaders(ctx);
      ctx.status = 404;
      ctx.body = page(ctx, locale, '404', html`<div class="card"><p>${t(locale, 'notFound')}</p></div>`).value;
    }
    return p;
  };

  router.get('/o/:token', async (ctx) => {
    const locale = pageLocale(ctx);
    const p = await load(ctx, locale);
    if (!p) return;
    pageHeaders(ctx);
    const base = `/o/${ctx.params.token}`;
    ctx.body = page(ctx, locale, p.name, html`
      ${p.photoStorageKey ? html`<img class="photo" src="${base}/photo" alt="">` : ''}
      <h1>${p.name}</h1>
      <p class="muted">${[p.kind, p.address].filter(Boolean).join(' · ')}</p>
      ${p.description ? html`<p>${p.description}</p>` : ''}
      <a class="button" href="${base}/report">${t(locale, 'report')}</a>
      <h2>${t(locale, 'openRequests')}</h2>
      <div class="card">${p.open.length === 0 ? html`<p class="muted">${t(locale, 'noOpen')}</p>` : html`<ul class="tickets">${p.open.map((o) => html`
        <li><strong>#${o.number}</strong>${o.category ? html` ${o.category}` : ''}
        <br><span class="badge">${statusLabel(locale, o.status)}</span> <span class="muted">${new Date(o.createdAt).toLocaleDateString(locale)}</span>
        · <a href="${base}/same/${o.number}">${t(locale, 'sameProblem')}</a></li>`)}</ul>`}</div>
      <p class="muted">${p.organizationName}</p>`).value;
  });

  router.get('/o/:token/photo', async (ctx) => {
    const p = await passportByToken(deps.orm, String(ctx.params.token), { withOpen: false });
    if (!p?.photoStorageKey) {
      ctx.status = 404;
      return;
    }
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Cache-Control', 'public, max-age=300');
    // The type was sniffed from the bytes at upload, and only images were taken.
    ctx.type = p.photoContentType && /^image\/(jpeg|png|webp|gif)$/.test(p.photoContentType) ? p.photoContentType : 'application/octet-stream';
    ctx.body = await deps.storage.open(p.photoStorageKey);
  });

  const form = (ctx: Context, locale: PageLocale, p: Passport, values: { text?: string; email?: string; contact?: string; error?: string }) => {
    const base = `/o/${ctx.params.token}`;
    const contact = values.contact ?? 'email';
    return page(ctx, locale, `${t(locale, 'report')}: ${p.name}`, html`
      <p><a href="${base}">← ${p.name}</a></p>
      <h1>${t(locale, 'report')}</h1>
      ${values.error ? html`<p class="error" role="alert">${values.error}</p>` : ''}
      <form method="post" action="${base}/report" enctype="multipart/form-data" class="card">
        <input type="hidden" name="csrf" value="${csrfToken(ctx, signer)}">
        <input type="hidden" name="submission" value="${crypto.randomUUID()}">
        <div class="hp" aria-hidden="true"><label>Website <input type="text" name="website" tabindex="-1" autocomplete="off"></label></div>
        <label for="text">${t(locale, 'whatsWrong')}</label>
        <textarea id="text" name="text" maxlength="10000">${values.text ?? ''}</textarea>
        <label for="photos">${t(locale, 'photos')}</label>
        <input id="photos" type="file" name="photos" accept="image/*" capture="environment" multiple>
        <fieldset><legend><strong>${t(locale, 'hearBack')}</strong></legend>
          <label><input type="radio" name="contact" value="email"${contact === 'email' ? html` checked` : ''}> ${t(locale, 'byEmail')}</label>
          <label for="email">${t(locale, 'email')}</label>
          <input id="email" type="email" name="email" autocomplete="email" value="${values.email ?? ''}">
          <label><input type="radio" name="contact" value="none"${contact === 'none' ? html` checked` : ''}> ${t(locale, 'noNews')}</label>
        </fieldset>
        <p><button type="submit">${t(locale, 'send')}</button></p>
      </form>
      ${p.telegramBot ? html`<p>${t(locale, 'telegramGo')}</p><a class="button secondary" href="https://t.me/${p.telegramBot}?start=obj_${String(ctx.params.token)}">${t(locale, 'byTelegram')}</a>` : ''}`);
  };

  router.get('/o/:token/report', async (ctx) => {
    const locale = pageLocale(ctx);
    const p = await load(ctx, locale, false);
    if (!p) return;
    pageHeaders(ctx);
    ctx.body = form(ctx, locale, p, {}).value;
  });

  router.post('/o/:token/report', async (ctx) => {
    const locale = pageLocale(ctx);
    // The report needs the object, not its list of open requests.
    const p = await load(ctx, locale, false);
    if (!p) return;
    pageHeaders(ctx);
    const again = (status: number, error: string, values: Record<string, string | undefined> = {}) => {
      ctx.status = status;
      ctx.body = form(ctx, locale, p, { ...values, error }).value;
    };
    if (!(await withinLimit(deps, `ip:${ctx.ip}`))) return again(429, t(locale, 'tooMany'));
    if (!ctx.is('multipart/form-data')) return again(415, t(locale, 'expired'));
    let payload: Awaited<ReturnType<typeof readPayload>>;
    try {
      payload = await readPayload(ctx, deps.storage, { maxBytes: deps.config.attachmentMaxBytes, maxFiles: 10 });
    } catch (err) {
      if (!(err instanceof HttpError) && !(err instanceof DomainError)) throw err;
      return again(413, t(locale, 'tooBig'));
    }
    const { fields, files } = payload;
    const text = cutText(String(fields.text ?? '').trim(), 10_000);
    const email = String(fields.email ?? '').trim();
    const contact = fields.contact === 'none' ? 'none' : 'email';
    const values = { text, email, contact };
    if (!csrfValid(ctx, signer, fields.csrf)) return again(403, t(locale, 'expired'), values);
    // Filled by robots only: the field is hidden from people. Answered like a success, so they learn nothing.
    if (String(fields.website ?? '') !== '') {
      ctx.body = page(ctx, locale, p.name, html`<div class="card"><p>${t(locale, 'thanksLater')}</p></div>`).value;
      return;
    }
    const photos = files.filter((f) => f.size > 0);
    if (photos.some((f) => !PHOTO_TYPES.test(f.contentType))) return again(415, t(locale, 'onlyImages'), values);
    if (!text && photos.length === 0) return again(422, t(locale, 'needText'), values);
    const submission = z.string().uuid().safeParse(fields.submission);
    if (!submission.success) return again(403, t(locale, 'expired'), values);
    let sender: IntakeEventInput['sender'];
    if (contact === 'email') {
      if (!z.string().email().max(320).safeParse(email).success) return again(422, t(locale, 'needEmail'), values);
      if (!(await withinLimit(deps, `email:${email.toLowerCase()}`))) return again(429, t(locale, 'tooMany'), values);
      sender = { kind: 'email', address: email, locale };
    } else {
      sender = { kind: 'web', address: `visitor:${visitorId(ctx)}`, locale };
    }
    const firstLine = text.split('\n')[0]!.trim();
    const event: IntakeEventInput = {
      organizationId: p.organizationId,
      channel: 'qr',
      externalId: `passport:${submission.data}`,
      sender,
      subject: cutText(firstLine ? `${p.name}: ${firstLine}` : p.name, 300),
      text: text || '—',
      fields: { objectId: p.id },
      attachments: photos,
      metadata: { passport: { object: p.name } },
      receivedAt: new Date().toISOString(),
    };
    const result = await deps.producer.submitAndWait(event, deps.config.intakeWaitMs);
    const done: Html[] = [];
    if (result.state === 'committed') done.push(html`<p><strong>${t(locale, 'thanks', { number: result.outcome.ticketNumber })}</strong></p>`);
    else if (result.state === 'pending') done.push(html`<p>${t(locale, 'thanksLater')}</p>`);
    else return again(422, t(locale, 'expired'), values);
    if (contact === 'email') done.push(html`<p class="muted">${t(locale, 'mailSent', { email })}</p>`);
    ctx.status = 200;
    ctx.body = page(ctx, locale, p.name, html`<div class="card">${done}</div><a class="button secondary" href="/o/${String(ctx.params.token)}">${t(locale, 'back')}</a>`).value;
  });
  const sameForm = (ctx: Context, locale: PageLocale, p: Passport, number: number, error?: string) => {
    const base = `/o/${ctx.params.token}`;
    return page(ctx, locale, t(locale, 'sameProblem'), html`
      <p><a href="${base}">← ${p.name}</a></p>
      <h1>${t(locale, 'sameProblem')}: #${number}</h1>
      ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
      <p class="muted">${t(locale, 'followHelp', { number })}</p>
      <form method="post" action="${base}/same/${number}" class="card">
        <input type="hidden" name="csrf" value="${csrfToken(ctx, signer)}">
        <label for="email">${t(locale, 'email')}</label>
        <input id="email" type="email" name="email" autocomplete="email">
        <p class="muted">${t(locale, 'noNews')}: ${locale === 'ru' ? 'оставьте поле пустым' : locale === 'de' ? 'Feld leer lassen' : 'leave it empty'}</p>
        <p><button type="submit">${t(locale, 'send')}</button></p>
      </form>`);
  };
  const notOpen = (ctx: Context, locale: PageLocale) => {
    ctx.status = 404;
    ctx.body = page(ctx, locale, '404', html`<p class="card">${t(locale, 'notYours', { number: String(ctx.params.number) })}</p>`).value;
  };
  const openNumber = (p: Passport, raw: unknown) => {
    const n = Number(raw);
    return p.open.some((o) => o.number === n) ? n : null;
  };
  /** The passport and the open request a "same problem" page is about; null once the answer is given. */
  const loadSame = async (ctx: Context) => {
    const locale = pageLocale(ctx);
    const p = await load(ctx, locale);
    if (!p) return null;
    pageHeaders(ctx);
    const number = openNumber(p, ctx.params.number);
    if (number === null) {
      notOpen(ctx, locale);
      return null;
    }
    return { locale, p, number };
  };
  router.get('/o/:token/same/:number', async (ctx) => {
    const same = await loadSame(ctx);
    if (!same) return;
    ctx.body = sameForm(ctx, same.locale, same.p, same.number).value;
  });
  router.post('/o/:token/same/:number', async (ctx) => {
    const same = await loadSame(ctx);
    if (!same) return;
    const { locale, p, number } = same;
    const form = await formFields(ctx);
    if (!csrfValid(ctx, signer, form.csrf)) {
      ctx.status = 403;
      ctx.body = sameForm(ctx, locale, p, number, t(locale, 'expired')).value;
      return;
    }
    if (!(await withinLimit(deps, `ip:${ctx.ip}`))) {
      ctx.status = 429;
      ctx.body = sameForm(ctx, locale, p, number, t(locale, 'tooMany')).value;
      return;
    }
    const email = String(form.email ?? '').trim();
    if (email && !z.string().email().max(320).safeParse(email).success) {
      ctx.status = 422;
      ctx.body = sameForm(ctx, locale, p, number, t(locale, 'needEmail')).value;
      return;
    }
    const who = email ? { kind: 'email' as const, address: email, locale } : { kind: 'web' as const, address: `visitor:${visitorId(ctx)}`, locale };
    await new Followers(deps.orm).follow(p.organizationId, p.id, number, who);
    ctx.body = page(ctx, locale, p.name, html`<div class="card"><p><strong>${t(locale, 'following', { number })}</strong></p></div>
      <a class="button secondary" href="/o/${String(ctx.params.token)}">${t(locale, 'back')}</a>`).value;
  });
  return router;
}

/** At most REPORTS_PER_ADDRESS reports per address (IP or email) in WINDOW_SECONDS. */
async function withinLimit(deps: PassportDeps, who: string): Promise<boolean> {
  const key = `${deps.config.queuePrefix}:rl:report:${who}`;
  const [[, count]] = (await deps.redis.multi().incr(key).expire(key, WINDOW_SECONDS, 'NX').exec()) as [[unknown, number]];
  return count <= REPORTS_PER_ADDRESS;
}
