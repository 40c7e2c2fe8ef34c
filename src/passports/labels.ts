import { createRequire } from 'node:module';
import PDFDocument from 'pdfkit';
import { passportUrl, qrPng } from './qr.ts';

const require = createRequire(import.meta.url);
// A font with Cyrillic and umlauts: PDF's standard fonts have neither.
const FONT = require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf');
const FONT_BOLD = require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf');

const MM = 72 / 25.4;

/** Sheets of common label paper: page size, grid, label size and margins, in millimetres. */
export const LABEL_LAYOUTS = {
  'a4-3x8': { page: 'A4', cols: 3, rows: 8, width: 70, height: 37, left: 0, top: 0.5, gapX: 0, gapY: 0 },
  'a4-2x7': { page: 'A4', cols: 2, rows: 7, width: 99.1, height: 38.1, left: 4.65, top: 15.15, gapX: 2.5, gapY: 0 },
  'a4-2x4': { page: 'A4', cols: 2, rows: 4, width: 99.1, height: 67.7, left: 4.65, top: 13.05, gapX: 2.5, gapY: 0 },
  'letter-3x10': { page: 'LETTER', cols: 3, rows: 10, width: 66.7, height: 25.4, left: 4.8, top: 12.7, gapX: 3.2, gapY: 0 },
} as const;
export type LabelLayout = keyof typeof LABEL_LAYOUTS;

export interface LabelObject { name: string; passportToken: string }

/** A PDF with one label per object: its QR code, name, short link and the organization's name. */
export async function labelsPdf(objects: LabelObject[], opts: { layout: LabelLayout; publicUrl: string; organization: string }): Promise<Buffer> {
  const l = LABEL_LAYOUTS[opts.layout];
  const doc = new PDFDocument({ size: l.page, margin: 0, autoFirstPage: false, info: { Title: `QR labels — ${opts.organization}` } });
  doc.registerFont('body', FONT);
  doc.registerFont('bold', FONT_BOLD);
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  const perPage = l.cols * l.rows;
  for (const [i, o] of objects.entries()) {
    if (i % perPage === 0) doc.addPage();
    const slot = i % perPage;
    const x = (l.left + (slot % l.cols) * (l.width + l.gapX)) * MM;
    const y = (l.top + Math.floor(slot / l.cols) * (l.height + l.gapY)) * MM;
    const pad = 2.5 * MM;
    const qrSize = l.height * MM - 2 * pad;
    const url = passportUrl(opts.publicUrl, o.passportToken);
    doc.image(await qrPng(url, 300), x + pad, y + pad, { width: qrSize, height: qrSize });
    const textX = x + pad * 2 + qrSize;
    const textWidth = l.width * MM - qrSize - pad * 3;
    const lineHeight = Math.min(10, (l.height * MM - 2 * pad) / 4);
    doc.font('bold').fontSize(lineHeight).text(o.name, textX, y + pad, { width: textWidth, height: lineHeight * 2.4, ellipsis: true });
    doc.font('body').fontSize(lineHeight * 0.62).fillColor('#333333')
      .text(url.replace(/^https?:\/\//, ''), textX, y + pad + lineHeight * 2.6, { width: textWidth, height: lineHeight * 1.6, ellipsis: true })
      .text(opts.organization, textX, y + l.height * MM - pad - lineHeight * 0.8, { width: textWidth, height: lineHeight, ellipsis: true })
      .fillColor('#000000');
  }
  if (objects.length === 0) doc.addPage();
  doc.end();
  return done;
}
