/**
 * The content type of a file, from its bytes. Magic numbers win; text is recognized as text; the type the
 * sender declared is kept only when the bytes agree with it, so an executable named "photo.jpg" sent as
 * image/jpeg is served as application/octet-stream.
 */
export function sniffContentType(head: Buffer, detectedMime: string | undefined, declared: string | undefined): string {
  if (detectedMime) return detectedMime;
  const declaredBase = declared?.split(';')[0]?.trim().toLowerCase();
  if (looksLikeText(head)) {
    if (declaredBase && TEXT_TYPES.has(declaredBase)) return `${declaredBase}; charset=utf-8`;
    return 'text/plain; charset=utf-8';
  }
  return 'application/octet-stream';
}

/** Declared types that are text and harmless when served with nosniff and as an attachment. */
const TEXT_TYPES = new Set(['text/plain', 'text/csv', 'application/json', 'text/markdown', 'text/calendar', 'application/xml', 'text/xml']);

function looksLikeText(head: Buffer): boolean {
  if (head.length === 0) return true;
  if (head.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(trimPartialUtf8(head));
    return true;
  } catch {
    return false;
  }
}

/** The head of a file may end inside a multi-byte character; drop that tail before decoding. */
function trimPartialUtf8(buf: Buffer): Buffer {
  let end = buf.length;
  for (let i = 1; i <= 3 && end - i >= 0; i++) {
    const byte = buf[end - i]!;
    if ((byte & 0xc0) === 0x80) continue;
    if ((byte & 0xc0) === 0xc0) end -= i;
    break;
  }
  return buf.subarray(0, end);
}
