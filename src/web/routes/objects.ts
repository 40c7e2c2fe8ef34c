import Router from '@koa/router';
import { z } from 'zod';
import type { ApiCaller } from '../../channels/api/inbound.ts';
import { PRIORITIES } from '../../core/vocabulary.ts';
import { Directory } from '../../persistence/directory.ts';
import { ObjectsStore, type ObjectChanges, type ObjectView } from '../../persistence/objects.ts';
import { LABEL_LAYOUTS, labelsPdf, type LabelLayout } from '../../passports/labels.ts';
import { passportUrl, qrPng, qrSvg } from '../../passports/qr.ts';
import { readJsonObject, readPayload, validate } from '../body.ts';
import { HttpError } from '../http-error.ts';
import type { ApiDeps } from './deps.ts';

const text = (max: number) => z.string().trim().max(max);
const ref = z.string().uuid().nullable();
const objectFields = {
  name: text(200).min(1, 'must not be empty'),
  kind: text(100),
  address: text(500),
  description: text(5000),
  default_category_id: ref,
  default_service_id: ref,
  default_priority: z.enum(PRIORITIES).nullable(),
  default_assignee_id: ref,
};
const createObjectBody = z.strictObject({ ...objectFields, name: objectFields.name }).partial().required({ name: true });
const updateObjectBody = z.strictObject(objectFields).partial();
const labelsQuery = z.strictObject({
  ids: z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean)).pipe(z.array(z.string().uuid('each id must be an object id')).min(1).max(500)),
  layout: z.enum(Object.keys(LABEL_LAYOUTS) as [LabelLayout, ...LabelLayout[]]).default('a4-3x8'),
});

/** Objects for admins and agents: the request template, the photo, the QR passport and label sheets. */
export function objectRoutes(deps: ApiDeps): Router {
  const router = new Router();
  const store = new ObjectsStore(deps.orm);
  const staff = (ctx: { state: { actor?: unknown } }) => {
    const caller = ctx.state.actor as ApiCaller;
    if (caller.role === 'customer') throw new HttpError(403, 'forbidden', 'Only agents and admins manage objects.');
    return caller;
  };
  const admin = (ctx: { state: { actor?: unknown } }) => {
    const caller = ctx.state.actor as ApiCaller;
    if (caller.role !== 'admin') throw new HttpError(403, 'forbidden', 'Only admins change objects.');
    return caller;
  };
  const show = (o: ObjectView) => ({
    ...o,
    passport_url: passportUrl(deps.config.publicUrl, o.passport_token),
    qr: { svg: `/api/v1/objects/${o.id}/qr.svg`, png: `/api/v1/objects/${o.id}/qr.png` },
  });
  const found = async (organizationId: string, id: string) => {
    const o = await store.get(organizationId, validate(z.string().uuid('must be an object id'), id, 'id'));
    if (!o) throw new HttpError(404, 'not_found', 'No such object in this organization.');
    return o;
  };

  router.post('/objects', async (ctx) => {
    const caller = admin(ctx);
    const body = validate(createObjectBody, readJsonObject(ctx));
    const created = await new Directory(deps.orm).createObject(caller.organizationId, { name: body.name, kind: body.kind, address: body.address, description: body.description });
    const o = await store.update(caller.organizationId, created.id, changesOf(body));
    ctx.status = 201;
    ctx.set('Location', `/api/v1/objects/${created.id}`);
    ctx.body = show(o!);
  });
  // Before /objects/:id, which would take "labels.pdf" for an id.
  router.get('/objects/labels.pdf', async (ctx) => {
    const caller = staff(ctx);
    const q = validate(labelsQuery, ctx.query);
    const objects = await store.many(caller.organizationId, q.ids);
    const missing = q.ids.filter((id) => !objects.some((o) => o.id === id));
    if (missing.length) throw new HttpError(404, 'not_found', `No such object in this organization: ${missing.join(', ')}.`, 'ids');
    const org = await new Directory(deps.orm).organization(caller.organizationId);
    ctx.type = 'application/pdf';
    ctx.set('Content-Disposition', `attachment; filename="labels-${q.layout}.pdf"`);
    ctx.body = await labelsPdf(objects.map((o) => ({ name: o.name, passportToken: o.passport_token })), { layout: q.layout, publicUrl: deps.config.publicUrl, organization: org.name });
  });
  router.get('/objects/:id', async (ctx) => {
    const caller = staff(ctx);
    ctx.body = show(await found(caller.organizationId, ctx.params.id!));
  });
  router.patch('/objects/:id', async (ctx) => {
    const caller = admin(ctx);
    const o = await found(caller.organizationId, ctx.params.id!);
    const body = validate(updateObjectBody, readJsonObject(ctx));
    ctx.body = show((await store.update(caller.organizationId, o.id, changesOf(body)))!);
  });
  router.put('/objects/:id/photo', async (ctx) => {
    const caller = admin(ctx);
    const o = await found(caller.organizationId, ctx.params.id!);
    if (!ctx.is('multipart/form-data')) throw new HttpError(415, 'unsupported_media_type', 'Send the photo as multipart/form-data with one file.');
    const { files } = await readPayload(ctx, deps.storage, { maxBytes: deps.config.attachmentMaxBytes, maxFiles: 1 });
    const photo = files[0];
    if (!photo) throw new HttpError(422, 'invalid_field', 'file: a photo is needed.', 'file');
    if (!/^image\/(jpeg|png|webp|gif)$/.test(photo.contentType)) {
      throw new HttpError(415, 'unsupported_media_type', `The file is ${photo.contentType}, not a JPEG, PNG, WebP or GIF image.`, 'file');
    }
    await store.setPhoto(caller.organizationId, o.id, photo.storageKey, photo.contentType);
    ctx.body = show((await store.get(caller.organizationId, o.id))!);
  });
  router.get('/objects/:id/qr.svg', async (ctx) => {
    const caller = staff(ctx);
    const o = await found(caller.organizationId, ctx.params.id!);
    ctx.type = 'image/svg+xml';
    ctx.body = await qrSvg(passportUrl(deps.config.publicUrl, o.passport_token));
  });
  router.get('/objects/:id/qr.png', async (ctx) => {
    const caller = staff(ctx);
    const o = await found(caller.organizationId, ctx.params.id!);
    ctx.type = 'image/png';
    ctx.body = await qrPng(passportUrl(deps.config.publicUrl, o.passport_token));
  });
  return router;
}

function changesOf(b: Partial<z.infer<typeof updateObjectBody>>): ObjectChanges {
  return {
    name: b.name, kind: b.kind, address: b.address, description: b.description,
    defaultCategoryId: b.default_category_id, defaultServiceId: b.default_service_id,
    defaultPriority: b.default_priority, defaultAssigneeId: b.default_assignee_id,
  };
}
