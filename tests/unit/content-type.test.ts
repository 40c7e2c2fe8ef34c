import { describe, expect, it } from 'vitest';
import { sniffContentType } from '../../src/storage/content-type.ts';
import { cleanFilename } from '../../src/storage/local-disk.ts';
import { contentDisposition } from '../../src/web/routes/attachments.ts';

describe('sniffContentType', () => {
  it('trusts the magic number over the declared type', () => {
    expect(sniffContentType(Buffer.from('MZ'), 'application/x-msdownload', 'image/jpeg')).toBe('application/x-msdownload');
  });
  it('recognizes UTF-8 text, keeping a harmless declared text type', () => {
    expect(sniffContentType(Buffer.from('a,b\nЖ,ü\n'), undefined, 'text/csv')).toBe('text/csv; charset=utf-8');
    expect(sniffContentType(Buffer.from('hello'), undefined, 'text/html')).toBe('text/plain; charset=utf-8');
  });
  it('calls unknown binary octet-stream, whatever was declared', () => {
    expect(sniffContentType(Buffer.from([0, 1, 2, 0xff]), undefined, 'image/png')).toBe('application/octet-stream');
  });
  it('does not mistake a multi-byte character cut at the end of the head for binary', () => {
    const text = Buffer.from('ЖЖЖ');
    expect(sniffContentType(text.subarray(0, 5), undefined, undefined)).toBe('text/plain; charset=utf-8');
  });
});

describe('file names', () => {
  it('drops path parts and control characters', () => {
    expect(cleanFilename('../../etc/passwd')).toBe('passwd');
    expect(cleanFilename('C:\\Users\\me\\отчёт.pdf')).toBe('отчёт.pdf');
    expect(cleanFilename('a\u0000b\nc.txt')).toBe('abc.txt');
    expect(cleanFilename('..')).toBe('attachment');
    const long = cleanFilename(`${'очень длинное имя '.repeat(20)}.pdf`);
    expect(long.length).toBe(255);
    expect(long.endsWith('.pdf')).toBe(true);
  });
  it('are sent as RFC 6266 attachment with a UTF-8 name', () => {
    expect(contentDisposition('отчёт "1".pdf')).toBe(`attachment; filename="_____ _1_.pdf"; filename*=UTF-8''%D0%BE%D1%82%D1%87%D1%91%D1%82%20%221%22.pdf`);
  });
});
