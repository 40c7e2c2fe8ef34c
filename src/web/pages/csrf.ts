import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import type { Signer } from '../../security/signed-tokens.ts';

const COOKIE = 'hd_csrf';

/**
 * CSRF protection by a signed double submit: a random value in an HttpOnly cookie, and its signature in the
 * form. Another site can make the browser send the cookie, but cannot read it to sign a form field.
 */
export function csrfToken(ctx: Context, signer: Signer): string {
  let value = ctx.cookies.get(COOKIE);
  if (!value || !/^[\w-]{20,64}$/.test(value)) {
    value = randomBytes(18).toString('base64url');
    ctx.cookies.set(COOKIE, value, { httpOnly: true, sameSite: 'lax', secure: overHttps(ctx), overwrite: true });
  }
  return signer.sign('csrf', value);
}

export function csrfValid(ctx: Context, signer: Signer, token: unknown): boolean {
  const value = ctx.cookies.get(COOKIE);
  return typeof token === 'string' && !!value && signer.verify('csrf', value, token);
}

/** A visitor without an account, remembered by a cookie, so that their reports belong to one reporter. */
export function visitorId(ctx: Context): string {
  let id = ctx.cookies.get('hd_visitor');
  if (!id || !/^[\w-]{20,64}$/.test(id)) {
    id = randomBytes(18).toString('base64url');
    ctx.cookies.set('hd_visitor', id, { httpOnly: true, sameSite: 'lax', secure: overHttps(ctx), maxAge: 365 * 24 * 3600 * 1000, overwrite: true });
  }
  return id;
}

/** Whether the visitor reached us over HTTPS (directly, or through a trusted proxy): cookies are then Secure. */
export function overHttps(ctx: Context): boolean {
  // ctx.secure follows X-Forwarded-Proto when TRUST_PROXY is set.
  return ctx.secure;
}
