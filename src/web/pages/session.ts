import type { Context } from 'koa';
import type { Signer } from '../../security/signed-tokens.ts';
import { overHttps } from './csrf.ts';

/**
 * A portal session: who (organization and reporter), until when, and, for a session opened by a ticket's
 * signed link, the one ticket it may see. Kept in a signed cookie, so any web process can read it.
 */
export interface PortalSession { org: string; reporter: string; exp: number; ticket?: number }

const COOKIE = 'hd_portal';
const SESSION_MS = 7 * 24 * 3600 * 1000;

export function readSession(ctx: Context, signer: Signer): PortalSession | null {
  const raw = ctx.cookies.get(COOKIE);
  if (!raw) return null;
  const [data, sig] = raw.split('.');
  if (!data || !sig || !signer.verify('portal-session', data, sig)) return null;
  try {
    const s = JSON.parse(Buffer.from(data, 'base64url').toString('utf8')) as PortalSession;
    return s.exp > Date.now() ? s : null;
  } catch {
    return null;
  }
}

export function writeSession(ctx: Context, signer: Signer, s: Omit<PortalSession, 'exp'>): void {
  const data = Buffer.from(JSON.stringify({ ...s, exp: Date.now() + SESSION_MS })).toString('base64url');
  ctx.cookies.set(COOKIE, `${data}.${signer.sign('portal-session', data)}`, {
    httpOnly: true, sameSite: 'lax', secure: overHttps(ctx), maxAge: SESSION_MS, overwrite: true,
  });
}

export function endSession(ctx: Context): void {
  ctx.cookies.set(COOKIE, '', { httpOnly: true, sameSite: 'lax', secure: ctx.secure, maxAge: 0, overwrite: true });
}
