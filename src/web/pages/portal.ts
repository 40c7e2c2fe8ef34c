import { createHash, randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Context } from 'koa';
import type { MikroORM } from '@mikro-orm/postgresql';
import { z } from 'zod';
import type { Config } from '../../config/index.ts';
import { DomainError } from '../../core/errors.ts';
import type { AttachmentStorage } from '../../core/ports.ts';
import { PortalStore } from '../../persistence/portal-store.ts';
import { ReporterActions } from '../../persistence/reporter-actions.ts';
import { Signer, verifyTicketLink } from '../../security/signed-tokens.ts';
import type { IntakeProducer } from '../../workers/intake-producer.ts';
import { enqueueNotifications } from '../../workers/notify-producer.ts';
import type { NotifyJobData } from '../../workers/queues.ts';
import { sendDownload } from '../routes/attachments.ts';
import { readPayload } from '../body.ts';
import { HttpError } from '../http-error.ts';
import { csrfToken, csrfValid } from './csrf.ts';
import { formFields } from './form.ts';
import { html, type Html } from './html.ts';
import { pageLocale, statusLabel, t, type PageLocale } from './i18n.ts';
import { page, pageHeaders } from './layout.ts';
import { endSession, readSession, writeSession, type PortalSession } from './session.ts';
import { cutText } from '../../core/text.ts';

export interface PortalDeps {
  config: Config;
  orm: MikroORM;
  storage: AttachmentStorage;
  producer: IntakeProducer;
  notifyQueue: Queue<NotifyJobData>;
  redis: Redis;
  secret: string;
}

const LINK_TTL_SECONDS = 15 * 60;
const LINKS_PER_ADDRESS = 5;

/**
 * The customer portal: no passwords. A one-time link by email (valid 15 minutes, used once), or the signed
 * link in every mail, opens a session in a signed cookie; a ticket's link opens that ticket only. Reporters see
 * their tickets and public messages, comment with files, close, and rate.
 */
export function portalRoutes(deps: PortalDeps): Router {
  const router = new Router();
  const signer = new Signer(deps.secret);
  const store = new PortalStore(deps.orm);
  const actions = new ReporterActions(deps.orm);
  const linkKey = (token: string) => `${deps.config.queuePrefix}:portal:link:${createHash('sha256').update(token).digest('hex')}`;

  const signInForm = (ctx: Context, locale: PageLocale, org: string, note?: Html | string) => html`
    ${note ? html`<p class="card">${note}</p>` : ''}
    <h1>${t(locale, 'signIn')}</h1>
    <p class="muted">${t(locale, 'signInHelp')}</p>
    <form method="post" action="/portal/login" class="card">
      <input type="hidden" name="csrf" value="${csrfToken(ctx, signer)}">
      <input type="hidden" name="org" value="${org}">
      <label for="email">${t(locale, 'email')}</label><input id="email" type="email" name="email" required autocomplete="email">
      <label for="ticket">${t(locale, 'ticketNumber')}</label><input id="ticket" type="text" name="ticket" inputmode="numeric" pattern="[0-9]*">
      <p><button type="submit">${t(locale, 'sendLink')}</button></p>
    </form>`;

  const orgOf = async (ref: string | undefined) => (ref ? store.organization(ref) : store.onlyOrganization());

  router.get('/portal', async (ctx) => {
    const locale = pageLocale(ctx);
    pageHeaders(ctx);
    const s = readSession(ctx, signer);
    if (!s || s.ticket !== undefined) {
      const org = await orgOf(typeof ctx.query.org === 'string' ? ctx.query.org : s?.org);
      ctx.body = page(ctx, locale, t(locale, 'signIn'), signInForm(ctx, locale, org?.slug ?? String(ctx.query.org ?? ''))).value;
      return;
    }
    const tickets = await store.tickets(s.org, s.reporter);
    ctx.body = page(ctx, locale, t(locale, 'myRequests'), html`
      <h1>${t(locale, 'myRequests')}</h1>
      <div class="card">${tickets.length === 0 ? html`<p class="muted">${t(locale, 'noTickets')}</p>` : html`<ul class="tickets">${tickets.map((x) => html`
        <li><a href="/portal/tickets/${x.number}"><strong>#${x.number}</strong> ${x.subject}</a><br>
        <span class="badge">${statusLabel(locale, x.status)}</span> <span class="muted">${new Date(x.updatedAt).toLocaleDateString(locale)}</span></li>`)}</ul>`}</div>
      ${signOut(ctx, locale)}`).value;
  });

  const signOut = (ctx: Context, locale: PageLocale) => html`<form method="post" action="/portal/logout"><input type="hidden" name="csrf" value="${csrfToken(ctx, signer)}"><button class="button secondary" type="submit">${t(locale, 'signOut')}</button></form>`;

  router.post('/portal/login', async (ctx) => {
    const locale = pageLocale(ctx);
    pageHeaders(ctx);
    const form = ctx.is('multipart/form-data') ? (await readPayload(ctx, deps.storage, { maxBytes: 1, maxFiles: 0 })).fields : await formFields(ctx);
    const org = await orgOf(String(form.org ?? '') || undefined);
    if (!csrfValid(ctx, signer, form.csrf) || !org) {
      ctx.status = 403;
      ctx.body = page(ctx, locale, t(locale, 'signIn'), signInForm(ctx, locale, org?.slug ?? '', t(locale, 'expired'))).value;
      return;
    }
    const email = String(form.email ?? '').trim().toLowerCase();
    const ticket = Number(String(form.ticket ?? '').replace(/\D/g, '')) || undefined;
    // The same answer whether or not the address is known, so that nobody learns who is a customer.
    const answer = () => {
      ctx.body = page(ctx, locale, t(locale, 'signIn'), html`<div class="card"><p>${t(locale, 'linkSent')}</p></div>`).value;
    };
    if (!z.string().email().safeParse(email).success || !(await withinLimit(deps, `portal:${ctx.ip}`)) || !(await withinLimit(deps, `portal:${email}`))) return answer();
    // Answered before the address is even looked up, so that timing tells nothing either.
    answer();
    void (async () => {
      const reporter = await store.reporterByEmail(org.id, email);
      if (!reporter || (ticket !== undefined && (await store.reporterOfTicket(org.id, ticket)) !== reporter)) return;
      const token = randomBytes(24).toString('base64url');
      await deps.redis.set(linkKey(token), JSON.stringify({ org: org.id, reporter, ticket }), 'EX', LINK_TTL_SECONDS);
      const id = await store.linkNotification(org.id, reporter, `${deps.config.publicUrl}/portal/auth?token=${token}`, locale);
      await enqueueNotifications(deps.notifyQueue, deps.config, [id]);
    })().catch(() => undefined);
  });

  // Opening the link only shows a button: mail scanners that follow links must not spend it.
  router.get('/portal/auth', async (ctx) => {
    const locale = pageLocale(ctx);
    const token = String(ctx.query.token ?? '');
    pageHeaders(ctx);
    if (!/^[\w-]{20,64}$/.test(token) || !(await deps.redis.exists(linkKey(token)))) {
      ctx.status = 410;
      ctx.body = page(ctx, locale, t(locale, 'signIn'), signInForm(ctx, locale, '', t(locale, 'linkInvalid'))).value;
      return;
    }
    ctx.body = page(ctx, locale, t(locale, 'signIn'), html`<form method="post" action="/portal/auth" class="card">
      <input type="hidden" name="csrf" value="${csrfToken(ctx, signer)}"><input type="hidden" name="token" value="${token}">
      <button type="submit">${t(locale, 'continueSignIn')}</button></form>`).value;
  });

  router.post('/portal/auth', async (ctx) => {
    const locale = pageLocale(ctx);
    const form = await formFields(ctx);
    const token = String(form.token ?? '');
    const raw = csrfValid(ctx, signer, form.csrf) && /^[\w-]{20,64}$/.test(token) ? await deps.redis.getdel(linkKey(token)) : null;
    if (!raw) {
      pageHeaders(ctx);
      ctx.status = 410;
      ctx.body = page(ctx, locale, t(locale, 'signIn'), signInForm(ctx, locale, '', t(locale, 'linkInvalid'))).value;
      return;
    }
    const link = JSON.parse(raw) as { org: string; reporter: string; ticket?: number };
    writeSession(ctx, signer, { org: link.org, reporter: link.reporter });
    ctx.redirect(link.ticket ? `/portal/tickets/${link.ticket}` : '/portal');
  });

  router.post('/portal/logout', async (ctx) => {
    const form = await formFields(ctx);
    if (csrfValid(ctx, signer, form.csrf)) endSession(ctx);
    ctx.status = 303;
    ctx.redirect('/portal');
  });

  /** The session that may see ticket `number`, or null (after answering with the sign-in page). */
  const sessionFor = async (ctx: Context, locale: PageLocale, number: number): Promise<PortalSession | null> => {
    const q = ctx.query;
    if (typeof q.sig === 'string' && typeof q.org === 'string') {
      // A link from a mail: signed for this organization and ticket, until its expiry.
      const verdict = verifyTicketLink(signer, { org: q.org, number, reporter: String(q.r ?? ''), exp: Number(q.exp), sig: q.sig });
      const owner = verdict === 'valid' ? await store.reporterOfTicket(q.org, number) : null;
      // The link was sent to this reporter, and the ticket is still theirs.
      const reporter = owner && owner === q.r ? owner : null;
      if (reporter) {
        const current = readSession(ctx, signer);
        if (!(current && current.org === q.org && current.reporter === reporter && current.ticket === undefined)) {
          writeSession(ctx, signer, { org: q.org, reporter, ticket: number });
        }
        ctx.redirect(`/portal/tickets/${number}`);
        return null;
      }
      pageHeaders(ctx);
      ctx.status = 410;
      const org = await store.organization(q.org).catch(() => null);
      ctx.body = page(ctx, locale, t(locale, 'signIn'), signInForm(ctx, locale, org?.slug ?? '', t(locale, 'linkInvalid'))).value;
      return null;
    }
    const s = readSession(ctx, signer);
    if (!s || (s.ticket !== undefined && s.ticket !== number)) {
      pageHeaders(ctx);
      ctx.status = 401;
      const org = s ? await store.organization(s.org) : null;
      ctx.body = page(ctx, locale, t(locale, 'signIn'), signInForm(ctx, locale, org?.slug ?? '')).value;
      return null;
    }
    return s;
  };

  router.get('/portal/tickets/:number', async (ctx) => {
    const locale = pageLocale(ctx);
    const number = Number(ctx.params.number);
    const s = Number.isSafeInteger(number) ? await sessionFor(ctx, locale, number) : null;
    if (!s) return;
    const tk = await store.ticket(s.org, s.reporter, number);
    pageHeaders(ctx);
    if (!tk) {
      ctx.status = 404;
      ctx.body = page(ctx, locale, '404', html`<p class="card">${t(locale, 'notYours', { number })}</p>`).value;
      return;
    }
    const csrf = csrfToken(ctx, signer);
    const base = `/portal/tickets/${number}`;
    const closed = tk.status === 'closed';
    ctx.body = page(ctx, locale, `#${tk.number} ${tk.subject}`, html`
      <p><a href="/portal">${s.ticket === undefined ? t(locale, 'myRequests') : t(locale, 'signInForAll')}</a></p>
      <h1>#${tk.number} ${tk.subject}</h1>
      <p><span class="badge">${statusLabel(locale, tk.status)}</span></p>
      ${tk.messages.map((m) => html`<div class="card"><p class="muted">${m.by === 'you' ? t(locale, 'you') : (m.author ?? t(locale, 'support'))} · ${new Date(m.at).toLocaleString(locale)}</p>
        <p style="white-space:pre-wrap">${m.body}</p>${m.files.length ? html`<ul>${m.files.map((f) => html`<li><a href="/portal/files/${f.id}">${f.filename}</a></li>`)}</ul>` : ''}</div>`)}
      <form method="post" action="${base}/comment" enctype="multipart/form-data" class="card">
        <input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="submission" value="${crypto.randomUUID()}">
        <label for="text">${t(locale, 'comment')}</label><textarea id="text" name="text" maxlength="20000"></textarea>
        <label for="files">${t(locale, 'files')}</label><input id="files" type="file" name="files" multiple>
        <p><button type="submit">${t(locale, 'send')}</button></p>
      </form>
      ${(tk.status === 'resolved' || closed) ? (tk.rating ? html`<p class="card">${t(locale, 'rated', { rating: tk.rating })}</p>` : html`
      <form method="post" action="${base}/rate" class="card"><input type="hidden" name="csrf" value="${csrf}">
        <fieldset><legend><strong>${t(locale, 'rateIt')}</strong></legend>${[5, 4, 3, 2, 1].map((k) => html`<label><input type="radio" name="rating" value="${k}" required> ${'★'.repeat(k)}</label>`)}</fieldset>
        <label for="rc">${t(locale, 'rateComment')}</label><textarea id="rc" name="comment" maxlength="2000"></textarea>
        <p><button type="submit">${t(locale, 'send')}</button></p></form>`) : ''}
      ${closed ? '' : html`<form method="post" action="${base}/close"><input type="hidden" name="csrf" value="${csrf}"><button class="button secondary" type="submit">${t(locale, 'closeTicket')}</button></form>`}
    `).value;
  });

  /** A form post on a ticket: session, CSRF, then `act`; answered with a redirect back to the ticket (303). */
  const onTicket = (action: string, act: (ctx: Context, s: PortalSession, number: number, form: Record<string, unknown>, files: Awaited<ReturnType<typeof readPayload>>['files']) => Promise<void>) => {
    router.post(`/portal/tickets/:number/${action}`, async (ctx) => {
      const locale = pageLocale(ctx);
      const number = Number(ctx.params.number);
      const s = Number.isSafeInteger(number) ? await sessionFor(ctx, locale, number) : null;
      if (!s) return;
      let payload: Awaited<ReturnType<typeof readPayload>>;
      try {
        payload = ctx.is('multipart/form-data')
          ? await readPayload(ctx, deps.storage, { maxBytes: deps.config.attachmentMaxBytes, maxFiles: deps.config.attachmentMaxFiles })
          : { fields: await formFields(ctx), files: [] };
      } catch (err) {
        if (!(err instanceof HttpError) && !(err instanceof DomainError)) throw err;
        pageHeaders(ctx);
        ctx.status = 413;
        ctx.body = page(ctx, locale, '413', html`<p class="card">${t(locale, 'tooBig')}</p><a class="button secondary" href="/portal/tickets/${number}">←</a>`).value;
        return;
      }
      if (!csrfValid(ctx, signer, payload.fields.csrf)) {
        pageHeaders(ctx);
        ctx.status = 403;
        ctx.body = page(ctx, locale, '403', html`<p class="card">${t(locale, 'expired')}</p>`).value;
        return;
      }
      try {
        await act(ctx, s, number, payload.fields, payload.files.filter((f) => f.size > 0));
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
        pageHeaders(ctx);
        ctx.status = err.kind === 'not_found' ? 404 : 422;
        ctx.body = page(ctx, locale, String(ctx.status), html`<p class="card">${err.message}</p><a class="button secondary" href="/portal/tickets/${number}">←</a>`).value;
        return;
      }
      ctx.status = 303;
      ctx.redirect(`/portal/tickets/${number}`);
    });
  };

  onTicket('comment', async (_ctx, s, number, form, files) => {
    const text = cutText(String(form.text ?? '').trim(), 20_000);
    const submission = z.string().uuid().safeParse(form.submission);
    if ((!text && files.length === 0) || !submission.success) throw new DomainError('invalid', 'Write a comment or add a file.');
    if (!(await store.ticket(s.org, s.reporter, number))) throw new DomainError('not_found', `No ticket #${number} of yours.`);
    const address = await store.portalIdentity(s.org, s.reporter);
    const result = await deps.producer.submitAndWait({
      organizationId: s.org, channel: 'web', externalId: `portal:${submission.data}`, sender: { kind: 'web', address },
      ticketNumber: number, text, attachments: files, receivedAt: new Date().toISOString(),
    }, deps.config.intakeWaitMs);
    if (result.state === 'failed') throw new DomainError('invalid', result.reason);
  });
  onTicket('close', async (_ctx, s, number) => {
    await actions.close(s.org, { kind: 'web', address: await store.portalIdentity(s.org, s.reporter) }, number, 'web');
  });
  onTicket('rate', async (_ctx, s, number, form) => {
    await actions.rate(s.org, { kind: 'web', address: await store.portalIdentity(s.org, s.reporter) }, number, Number(form.rating), 'web', String(form.comment ?? '').trim() || undefined);
  });

  router.get('/portal/files/:id', async (ctx) => {
    const s = readSession(ctx, signer);
    const id = String(ctx.params.id);
    const file = s && z.string().uuid().safeParse(id).success ? await store.attachment(s.org, s.reporter, id, s.ticket) : null;
    if (!file) {
      ctx.status = 404;
      ctx.body = 'Not found';
      return;
    }
    await sendDownload(ctx, file, deps.storage);
  });
  return router;
}

async function withinLimit(deps: PortalDeps, who: string): Promise<boolean> {
  const key = `${deps.config.queuePrefix}:rl:${who}`;
  const [[, count]] = (await deps.redis.multi().incr(key).expire(key, 600, 'NX').exec()) as [[unknown, number]];
  return count <= LINKS_PER_ADDRESS * 2;
}
