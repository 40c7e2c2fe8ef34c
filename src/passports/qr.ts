import QRCode from 'qrcode';

/** The address a passport's QR code points to. */
export function passportUrl(publicUrl: string, token: string): string {
  return `${publicUrl}/o/${token}`;
}

export function qrSvg(url: string): Promise<string> {
  return QRCode.toString(url, { type: 'svg', margin: 1, errorCorrectionLevel: 'M' });
}

export function qrPng(url: string, width = 512): Promise<Buffer> {
  return QRCode.toBuffer(url, { type: 'png', margin: 1, width, errorCorrectionLevel: 'M' });
}
