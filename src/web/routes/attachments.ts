import Router from '@koa/router';
import type { Context } from 'koa';
import type { AttachmentStorage } from '../../core/ports.ts';
import { z } from 'zod';
import type { ApiCaller } from '../../channels/api/inbound.ts';
import { validate } from '../body.ts';
import { HttpError } from '../http-error.ts';
import type { ApiDeps } from './deps.ts';

/** Downloads: always as an attachment, with the sniffed type and nosniff, so no upload runs as a page. */
export function attachmentRoutes(deps: ApiDeps): Router {
  const router = new Router();
  router.get('/attachments/:id', async (ctx) => {
    const caller = ctx.state.actor as ApiCaller;
    const id = validate(z.string().uuid('must be an attachment id'), ctx.params.id, 'id');
    const file = await deps.queries.attachment(caller, id);
    if (!file) throw new HttpError(404, 'not_found', 'No such attachment.');
    await sendDownload(ctx, file, deps.storage);
  });
  return router;
}

/**
 * A stored file as a download: its sniffed type, nosniff and a sandbox CSP, so that no upload ever runs as a
 * page; never cached by shared caches.
 */
export async function sendDownload(ctx: Context, file: { filename: string; contentType: string; size: number; storageKey: string }, storage: AttachmentStorage): Promise<void> {
  ctx.set('Content-Type', file.contentType);
  ctx.set('Content-Length', String(file.size));
  ctx.set('Content-Disposition', contentDisposition(file.filename));
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Cache-Control', 'private, no-store');
  ctx.set('Content-Security-Policy', "default-src 'none'; sandbox");
  ctx.body = await storage.open(file.storageKey);
}

/** RFC 6266: an ASCII fallback plus the UTF-8 name (RFC 5987), so Cyrillic names survive. */
export function contentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  const encoded = encodeURIComponent(filename).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
