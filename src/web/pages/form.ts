import type { Context } from 'koa';
import { DomainError } from '../../core/errors.ts';

/** The fields of a plain HTML form post (application/x-www-form-urlencoded), at most 64 KB of them. */
export async function formFields(ctx: Context): Promise<Record<string, string>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of ctx.req) {
    size += (c as Buffer).length;
    if (size > 64 * 1024) throw new DomainError('too_large', 'The form is too large.');
    chunks.push(c as Buffer);
  }
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
}
