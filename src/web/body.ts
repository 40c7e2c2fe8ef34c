import busboy from 'busboy';
import type { Context } from 'koa';
import type { z } from 'zod';
import type { StoredFile } from '../core/intake-event.ts';
import type { AttachmentStorage } from '../core/ports.ts';
import { HttpError } from './http-error.ts';
import { wellFormed } from '../core/text.ts';

export interface UploadLimits { maxBytes: number; maxFiles: number }

/** What a request carried: fields (JSON or form) and files already in storage. */
export interface RequestPayload { fields: Record<string, unknown>; files: StoredFile[] }

/**
 * Reads the body of a request that may carry files: JSON (already parsed by the body parser) or
 * multipart/form-data, whose file parts stream straight into attachment storage.
 */
export async function readPayload(ctx: Context, storage: AttachmentStorage, limits: UploadLimits): Promise<RequestPayload> {
  if (ctx.is('multipart/form-data')) return readMultipart(ctx, storage, limits);
  return { fields: readJsonObject(ctx), files: [] };
}

export function readJsonObject(ctx: Context): Record<string, unknown> {
  if (!ctx.request.length && !ctx.get('transfer-encoding')) return {};
  if (!ctx.is('application/json', '+json')) {
    throw new HttpError(415, 'unsupported_media_type', 'Send the body as application/json (or multipart/form-data where files are accepted).');
  }
  const body = (ctx.request as unknown as { body?: unknown }).body;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'malformed_json', 'The body must be a JSON object.');
  }
  return withWholeCharacters(body) as Record<string, unknown>;
}

/**
 * JSON may spell half a character (`"\ud83d"`), which Postgres refuses wherever the value is stored as JSON
 * (an audit entry, a queued event): such halves become U+FFFD here, once, for every route.
 */
function withWholeCharacters(value: unknown): unknown {
  if (typeof value === 'string') return wellFormed(value);
  // In place and without recursion: the value was just parsed, and a deeply nested body must not overflow the stack.
  const pending: object[] = value !== null && typeof value === 'object' ? [value] : [];
  for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
    const record = node as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const v = record[key];
      if (typeof v === 'string') record[key] = wellFormed(v);
      else if (v !== null && typeof v === 'object') pending.push(v);
      const whole = wellFormed(key);
      if (whole !== key) {
        record[whole] = record[key];
        delete record[key];
      }
    }
  }
  return value;
}

function readMultipart(ctx: Context, storage: AttachmentStorage, limits: UploadLimits): Promise<RequestPayload> {
  return new Promise((resolve, reject) => {
    const fields: Record<string, unknown> = {};
    const stored: Array<Promise<StoredFile>> = [];
    let failed = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      ctx.req.unpipe(parser);
      ctx.req.resume();
      // Ends the file part being written, so storage removes its partial file and nothing waits on it.
      parser.destroy(err instanceof Error ? err : new Error(String(err)));
      reject(err);
    };
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: ctx.req.headers,
        defParamCharset: 'utf8',
        // 400 000 bytes holds the 100 000 characters a text field may have, in any script.
        limits: { files: limits.maxFiles, fields: 100, fieldSize: 400_000 },
      });
    } catch (err) {
      reject(new HttpError(400, 'malformed_multipart', `Malformed multipart body: ${(err as Error).message}`));
      return;
    }
    parser.on('field', (name, value, info) => {
      if (info.valueTruncated) {
        fail(new HttpError(413, 'too_large', `The field "${name}" is too long for a form field; send long text as JSON.`, name));
        return;
      }
      // A form's file input with no file chosen arrives as an empty part.
      if (value === '' && /^files?(\[\])?$/i.test(name)) return;
      // A JSON field named "payload" may carry the structured part of the request (e.g. a reporter object).
      if (name === 'payload') {
        try {
          Object.assign(fields, withWholeCharacters(JSON.parse(value)));
        } catch {
          fail(new HttpError(400, 'malformed_json', 'The "payload" field is not valid JSON.'));
        }
        return;
      }
      fields[name] = value;
    });
    parser.on('file', (_name, stream, info) => {
      if (failed || !info.filename) {
        stream.resume();
        return;
      }
      const put = storage.put(stream, { filename: info.filename || 'attachment', declaredType: info.mimeType, maxBytes: limits.maxBytes });
      put.catch(fail);
      stored.push(put);
    });
    parser.on('fieldsLimit', () => fail(new HttpError(413, 'too_large', 'Too many form fields (at most 100).')));
    parser.on('filesLimit', () => fail(new HttpError(413, 'too_many_files', `At most ${limits.maxFiles} files per request.`, 'files')));
    parser.on('error', (err) => fail(new HttpError(400, 'malformed_multipart', `Malformed multipart body: ${(err as Error).message}`)));
    parser.on('close', () => {
      Promise.all(stored).then((files) => { if (!failed) resolve({ fields, files }); }, fail);
    });
    // A client that goes away mid-upload must not leave a request (and a half-written file) waiting forever.
    ctx.req.once('aborted', () => fail(new HttpError(400, 'aborted', 'The upload was interrupted.')));
    ctx.req.pipe(parser);
  });
}

/** Validates input against a schema; the first problem becomes a 422 that names the field. */
export function validate<S extends z.ZodType>(schema: S, input: unknown, name?: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => {
    const path = [...(name ? [name] : []), ...i.path].join('.');
    const keys = (i as { keys?: string[] }).keys;
    const field = path || (keys?.length ? keys.join(', ') : '');
    const message = i.code === 'unrecognized_keys'
      ? `unknown field${keys && keys.length > 1 ? 's' : ''} ${keys?.map((k) => `"${k}"`).join(', ')}`
      : i.message;
    return { field, message };
  });
  const first = issues[0]!;
  const err = new HttpError(422, 'invalid_field', first.field ? `${first.field}: ${first.message}` : first.message, first.field || undefined);
  (err as HttpError & { details?: unknown }).details = issues;
  throw err;
}
