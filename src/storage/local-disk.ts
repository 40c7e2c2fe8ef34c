import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileTypeFromBuffer } from 'file-type';
import { v7 as uuidv7 } from 'uuid';
import { DomainError } from '../core/errors.ts';
import type { StoredFile } from '../core/intake-event.ts';
import type { AttachmentStorage } from '../core/ports.ts';
import { sniffContentType } from './content-type.ts';

const HEAD_BYTES = 4100;

/**
 * Attachments on local disk, content-addressed: `<root>/ab/abcdef…` by SHA-256. The same file stored twice
 * (a retried upload, a forwarded mail) takes the space once, and a key can never point at other bytes.
 */
export class LocalDiskStorage implements AttachmentStorage {
  constructor(private readonly root: string) {}

  async put(input: Readable, meta: { filename: string; declaredType?: string; maxBytes: number }): Promise<StoredFile> {
    const tmpDir = path.join(this.root, 'tmp');
    await fs.mkdir(tmpDir, { recursive: true });
    const tmp = path.join(tmpDir, uuidv7());
    const hash = createHash('sha256');
    let size = 0;
    const head: Buffer[] = [];
    let headSize = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > meta.maxBytes) {
          done(new DomainError('too_large', `${meta.filename} is larger than the limit of ${meta.maxBytes} bytes.`, 'files'));
          return;
        }
        hash.update(chunk);
        if (headSize < HEAD_BYTES) {
          head.push(chunk);
          headSize += chunk.length;
        }
        done(null, chunk);
      },
    });
    try {
      await pipeline(input, meter, createWriteStream(tmp));
    } catch (err) {
      await fs.rm(tmp, { force: true });
      input.resume();
      throw err;
    }
    const sha256 = hash.digest('hex');
    const storageKey = `${sha256.slice(0, 2)}/${sha256}`;
    const final = path.join(this.root, storageKey);
    await fs.mkdir(path.dirname(final), { recursive: true });
    await fs.rename(tmp, final);
    const headBuffer = Buffer.concat(head).subarray(0, HEAD_BYTES);
    const detected = await fileTypeFromBuffer(headBuffer);
    return {
      storageKey,
      filename: cleanFilename(meta.filename),
      contentType: sniffContentType(headBuffer, detected?.mime, meta.declaredType),
      size,
      sha256,
    };
  }

  async open(storageKey: string): Promise<Readable> {
    if (!/^[0-9a-f]{2}\/[0-9a-f]{64}$/.test(storageKey)) throw new DomainError('not_found', 'No such attachment.');
    const file = path.join(this.root, storageKey);
    try {
      await fs.access(file);
    } catch {
      throw new DomainError('not_found', 'The attachment file is missing from storage.');
    }
    return createReadStream(file);
  }
}

/** Keeps the name a person gave the file, minus path parts and control characters. */
export function cleanFilename(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  let cleaned = base.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  if (cleaned.length > 255) {
    // Shorten the name, not the extension people and programs open it by.
    const ext = /\.[^.\s]{1,16}$/.exec(cleaned)?.[0] ?? '';
    cleaned = cleaned.slice(0, 255 - ext.length) + ext;
  }
  return cleaned.length > 0 && cleaned !== '.' && cleaned !== '..' ? cleaned : 'attachment';
}
