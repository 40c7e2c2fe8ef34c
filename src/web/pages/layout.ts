import type { Context } from 'koa';
import { html, Html } from './html.ts';
import { PAGE_LOCALES, type PageLocale } from './i18n.ts';

const STYLE = `
*{box-sizing:border-box}body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;background:#f4f6f9}
main{max-width:640px;margin:0 auto;padding:16px}header{display:flex;justify-content:flex-end;gap:8px;font-size:14px;padding:8px 16px}
header a{color:#44526b}header a[aria-current]{font-weight:700;text-decoration:none}
h1{font-size:1.5rem;margin:.25em 0}h2{font-size:1.1rem;margin:1.5em 0 .5em}.muted{color:#5d6a80}
.card{background:#fff;border-radius:12px;padding:16px;box-shadow:0 1px 3px rgba(0,0,0,.08);margin:12px 0}
img.photo{width:100%;max-height:280px;object-fit:cover;border-radius:12px}
ul.tickets{list-style:none;padding:0;margin:0}ul.tickets li{padding:10px 0;border-bottom:1px solid #e6e9ef}
.badge{display:inline-block;font-size:12px;padding:2px 8px;border-radius:10px;background:#e8eefc;color:#2b4aa0}
.button,button{display:block;width:100%;padding:14px;border:0;border-radius:10px;background:#2b59d9;color:#fff;font-size:1.05rem;text-align:center;text-decoration:none;cursor:pointer}
.button.secondary{background:#e8eefc;color:#2b4aa0}
label{display:block;margin:14px 0 6px;font-weight:600}textarea,input[type=email]{width:100%;padding:12px;border:1px solid #c7cfdb;border-radius:8px;font:inherit}
textarea{min-height:120px}fieldset{border:0;padding:0;margin:0}fieldset label{font-weight:400;margin:8px 0}
.error{background:#fde8e8;color:#8a1c1c;padding:10px 12px;border-radius:8px}.hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}
@media (min-width:900px){main{max-width:760px;padding:32px}}
`;

/** A page: phone first, no script, the language switch on top. */
export function page(ctx: Context, locale: PageLocale, title: string, body: Html): Html {
  const here = ctx.path;
  return html`<!doctype html>
<html lang="${locale}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${title}</title><style>${new Html(STYLE)}</style></head>
<body><header>${PAGE_LOCALES.map((l) => html`<a href="${here}?lang=${l}"${l === locale ? html` aria-current="true"` : ''}>${l.toUpperCase()}</a>`)}</header>
<main>${body}</main></body></html>`;
}

/** Headers for our pages: nothing from elsewhere, no framing by others, no scripts at all. */
export function pageHeaders(ctx: Context): void {
  ctx.set('Content-Security-Policy', "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; form-action 'self' https://t.me; frame-ancestors 'none'; base-uri 'none'");
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('Cache-Control', 'no-store');
  ctx.type = 'text/html; charset=utf-8';
}
