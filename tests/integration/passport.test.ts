import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { Mailboxes } from '../../src/persistence/mailboxes.ts';
import { SecretBox } from '../../src/security/secret-box.ts';
import { apiClient, seedOrganization, startTestApp, type TestApp } from '../support/app.ts';
import { ARTIFACTS, launchBrowser } from '../support/browser.ts';
import { query } from '../support/database.ts';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts';

/*
 * An object's QR passport in a real browser (Debian's chromium): the page, the report form with a photo and
 * an email, the ticket it makes, the confirmation mail; and what the form refuses.
 */

let app: TestApp;
let smtp: SmtpSink;
let browser: Browser;
let seed: Awaited<ReturnType<typeof seedOrganization>>;
let lift: { id: string; passport_token: string; passport_url: string };
let mailed: { number: number; link: string };
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

beforeAll(async () => {
  [smtp, browser] = await Promise.all([startSmtpSink(), launchBrowser()]);
  app = await startTestApp({ env: { APP_SECRET: 'test-secret-test-secret', PUBLIC_URL: 'http://127.0.0.1:1' }, workerOptions: { email: { refreshMs: 300 }, telegram: false } });
  seed = await seedOrganization(app, 'Passport Org');
  await new Mailboxes(app.rt.orm, new SecretBox(app.rt.secret)).add({ organizationId: seed.org.id, address: 'support@passport.test', imapUrl: 'imap://u:p@127.0.0.1:1', smtpUrl: smtp.url, plusAddressing: false });
  const admin = apiClient(app.baseUrl, seed.admin.key);
  lift = (await admin.post('/objects', { name: 'Лифт 2, корпус А', kind: 'lift', address: 'Main st. 1', default_priority: 'high' })).body;
  const fd = new FormData();
  fd.append('file', new Blob([new Uint8Array(PNG)], { type: 'image/png' }), 'lift.png');
  await admin.raw('PUT', `/objects/${lift.id}/photo`, { body: fd });
  await apiClient(app.baseUrl, seed.agent.key).post('/tickets', { subject: 'Door closes too fast', object: lift.id });
  await fs.mkdir(ARTIFACTS, { recursive: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await smtp?.close();
});

const sql = <T = Record<string, any>>(text: string, params: unknown[] = []) => query<T & Record<string, any>>(app.db.url, text, params);
const passport = () => `${app.baseUrl}/o/${lift.passport_token}`;

describe('the passport page', () => {
  it('shows the object, its open requests and a report form that makes a ticket with the photo; the confirmation mail follows', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'ru-RU' });
    const page = await context.newPage();
    await page.goto(passport());
    await expect(page.locator('h1').textContent()).resolves.toBe('Лифт 2, корпус А');
    // Open requests show number, status and date; never the reporters' words.
    const [door] = await sql(`SELECT number FROM tickets WHERE object_id = $1 AND subject = 'Door closes too fast'`, [lift.id]);
    const listed = await page.locator('ul.tickets').textContent();
    expect(listed).toContain(`#${door!.number}`);
    expect(listed).not.toContain('Door closes too fast');
    expect(await page.locator('img.photo').evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(1);
    await page.screenshot({ path: path.join(ARTIFACTS, 'passport-phone.png'), fullPage: true });

    await page.click('text=Сообщить о проблеме');
    await page.fill('textarea[name=text]', 'Кнопка 3 этажа не работает\nСовсем не реагирует');
    await page.setInputFiles('input[name=photos]', { name: 'button.png', mimeType: 'image/png', buffer: PNG });
    await page.fill('input[name=email]', 'visitor@customer.test');
    await page.screenshot({ path: path.join(ARTIFACTS, 'report-phone.png'), fullPage: true });
    await page.click('button[type=submit]');
    await page.waitForLoadState('load');
    const thanks = await page.locator('main').textContent();
    const number = Number(/#(\d+)/.exec(thanks ?? '')?.[1]);
    expect(thanks).toContain('зарегистрировано');
    expect(number).toBeGreaterThan(0);

    const [ticket] = await sql(`SELECT t.id, t.channel, t.object_id, t.priority, t.subject, r.locale FROM tickets t JOIN reporters r ON r.id = t.reporter_id WHERE t.organization_id = $1 AND t.number = $2`, [seed.org.id, number]);
    expect(ticket).toMatchObject({ channel: 'qr', object_id: lift.id, priority: 'high', subject: 'Лифт 2, корпус А: Кнопка 3 этажа не работает', locale: 'ru' });
    const files = await sql(`SELECT filename, content_type FROM attachments WHERE ticket_id = $1`, [ticket!.id]);
    expect(files).toEqual([{ filename: 'button.png', content_type: 'image/png' }]);
    const mail = await smtp.waitFor((m) => m.envelopeTo.includes('visitor@customer.test'));
    expect(mail.parsed.subject).toContain(`[#${number}]`);
    mailed = { number, link: /(http\S+\/portal\/tickets\/\d+\?\S+)/.exec(mail.parsed.text ?? '')![1]! };

    // The same submission sent twice (the back button, a double tap) is one ticket.
    await page.goBack();
    await context.close();

    const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'de-DE' });
    const dpage = await desktop.newPage();
    await dpage.goto(passport());
    await expect(dpage.locator('a.button').textContent()).resolves.toBe('Problem melden');
    await dpage.goto(`${passport()}?lang=en`);
    await expect(dpage.locator('a.button').textContent()).resolves.toBe('Report a problem');
    await dpage.screenshot({ path: path.join(ARTIFACTS, 'passport-desktop.png'), fullPage: true });
    await desktop.close();
  });

  it('escapes what people wrote, and runs no script', async () => {
    const admin = apiClient(app.baseUrl, seed.admin.key);
    const evil = (await admin.post('/objects', { name: '<img src=x onerror=alert(1)>', description: '<script>alert(2)</script>' })).body;
    const context = await browser.newContext();
    const page = await context.newPage();
    let dialogs = 0;
    page.on('dialog', (d) => { dialogs += 1; void d.dismiss(); });
    const res = await page.goto(`${app.baseUrl}/o/${evil.passport_token}`);
    expect(res!.headers()['content-security-policy']).toContain("default-src 'none'");
    await expect(page.locator('h1').textContent()).resolves.toBe('<img src=x onerror=alert(1)>');
    expect(await page.locator('img').count()).toBe(0);
    expect(dialogs).toBe(0);
    await context.close();
  });

  it('refuses a form without its CSRF token, takes nothing from the honeypot, and knows no foreign token', async () => {
    const before = (await sql(`SELECT count(*)::int AS n FROM tickets`))[0]!.n;
    const fd = new FormData();
    fd.append('text', 'forged');
    fd.append('contact', 'none');
    fd.append('submission', crypto.randomUUID());
    fd.append('csrf', 'x'.repeat(32));
    const forged = await fetch(`${passport()}/report`, { method: 'POST', body: fd });
    expect(forged.status).toBe(403);

    // With a real form (cookie and token) but the hidden field filled in, as robots do: thanked, nothing made.
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${passport()}/report`);
    await page.fill('textarea[name=text]', 'spam spam');
    await page.check('input[value=none]');
    await page.evaluate(() => { (document.querySelector('input[name=website]') as HTMLInputElement).value = 'http://spam.example'; });
    await page.click('button[type=submit]');
    await page.locator('main', { hasText: /received|получено|eingegangen/ }).waitFor({ timeout: 15_000 });
    await context.close();
    expect((await sql(`SELECT count(*)::int AS n FROM tickets`))[0]!.n).toBe(before);

    expect((await fetch(`${app.baseUrl}/o/${'0'.repeat(32)}`)).status).toBe(404);
  });
});

describe('I have the same problem', () => {
  it('makes the visitor a follower of the open request, not a new ticket, and they hear when it moves', async () => {
    const before = (await sql(`SELECT count(*)::int AS n FROM tickets`))[0]!.n;
    const context = await browser.newContext({ locale: 'en-US' });
    const page = await context.newPage();
    await page.goto(passport());
    const [open] = await sql(`SELECT number FROM tickets WHERE object_id = $1 AND subject = 'Door closes too fast'`, [lift.id]);
    await page.click(`a[href$="/same/${open!.number}"]`);
    await page.fill('input[name=email]', 'neighbour@customer.test');
    await page.click('button[type=submit]');
    await page.locator('main', { hasText: `You follow request #${open!.number}` }).waitFor({ timeout: 15_000 });
    await context.close();
    expect((await sql(`SELECT count(*)::int AS n FROM tickets`))[0]!.n).toBe(before);
    const followers = await sql(`SELECT i.address FROM ticket_followers f JOIN reporter_identities i ON i.reporter_id = f.reporter_id
                                   JOIN tickets t ON t.id = f.ticket_id WHERE t.number = $1 AND t.organization_id = $2`, [open!.number, seed.org.id]);
    expect(followers.map((f) => f.address)).toEqual(['neighbour@customer.test']);
    expect((await apiClient(app.baseUrl, seed.agent.key).patch(`/tickets/${open!.number}`, { status: 'in_progress' })).status).toBe(200);
    const mail = await smtp.waitFor((m) => m.envelopeTo.includes('neighbour@customer.test'));
    expect(mail.parsed.subject).toContain(`[#${open!.number}]`);
    expect(mail.parsed.text).toContain('in progress');
    // A follower is not the reporter: no link that would open the ticket as them.
    expect(mail.parsed.text).not.toContain('/portal/tickets/');
    expect(mail.parsed.text).toContain('/portal?org=');
    // A closed request cannot be followed.
    expect((await fetch(`${passport()}/same/999999`)).status).toBe(404);
  });
});

/** Links in mails and snippets start with PUBLIC_URL; the test app listens on a port of its own. */
const local = (url: string) => url.replace('http://127.0.0.1:1', app.baseUrl);

describe('the customer portal', () => {
  it('opens the ticket from the confirmation mail, takes a comment with a file, shows the answer, closes and rates it', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en-US' });
    const page = await context.newPage();
    await page.goto(local(mailed.link));
    expect(new URL(page.url()).pathname).toBe(`/portal/tickets/${mailed.number}`);
    await expect(page.locator('main').textContent()).resolves.toContain('Кнопка 3 этажа не работает');
    await page.fill('textarea[name=text]', 'It also beeps now');
    await page.setInputFiles('input[name=files]', { name: 'beep.txt', mimeType: 'text/plain', buffer: Buffer.from('beep beep') });
    await page.click('form[action$="/comment"] button[type=submit]');
    await page.locator('main', { hasText: 'It also beeps now' }).waitFor({ timeout: 15_000 });
    const [ticket] = await sql(`SELECT id FROM tickets WHERE organization_id = $1 AND number = $2`, [seed.org.id, mailed.number]);
    const [comment] = await sql(`SELECT m.channel, m.author_reporter_id, t.reporter_id, (SELECT count(*)::int FROM attachments a WHERE a.message_id = m.id) AS files
                                   FROM messages m JOIN tickets t ON t.id = m.ticket_id WHERE m.body = 'It also beeps now'`);
    expect(comment).toMatchObject({ channel: 'web', files: 1 });
    expect(comment!.author_reporter_id).toBe(comment!.reporter_id);

    const agent = apiClient(app.baseUrl, seed.agent.key);
    await agent.post(`/tickets/${mailed.number}/comments`, { body: 'A technician is on the way.' });
    await agent.post(`/tickets/${mailed.number}/comments`, { body: 'internal: bring the 3rd floor panel', internal: true });
    await page.reload();
    const text = await page.locator('main').textContent();
    expect(text).toContain('A technician is on the way.');
    expect(text).not.toContain('internal: bring');
    await page.screenshot({ path: path.join(ARTIFACTS, 'portal-ticket-phone.png'), fullPage: true });

    expect((await agent.patch(`/tickets/${mailed.number}`, { status: 'resolved' })).status).toBe(200);
    await page.reload();
    await page.check('input[name=rating][value="4"]');
    await page.fill('textarea[name=comment]', 'Quick, thanks');
    await page.click('form[action$="/rate"] button[type=submit]');
    await page.locator('main', { hasText: 'Your rating: 4 of 5' }).waitFor({ timeout: 15_000 });
    await page.click('form[action$="/close"] button[type=submit]');
    const [after] = await sql(`SELECT status, rating FROM tickets WHERE id = $1`, [ticket!.id]);
    expect(after).toMatchObject({ status: 'closed', rating: 4 });

    // A ticket's link opens that ticket only.
    const other = (await agent.post('/tickets', { subject: 'Someone else', reporter: { email: 'other@customer.test' } })).body.number;
    const res = await page.goto(`${app.baseUrl}/portal/tickets/${other}`);
    expect(res!.status()).toBe(401);
    await context.close();
  });

  it('signs in with a one-time link by email, the same answer for unknown addresses, and the link works once', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${app.baseUrl}/portal?org=${seed.org.slug}`);
    await page.fill('input[name=email]', 'nobody@customer.test');
    await page.click('button[type=submit]');
    const unknown = await page.locator('main').textContent();
    await page.goto(`${app.baseUrl}/portal?org=${seed.org.slug}`);
    await page.fill('input[name=email]', 'VISITOR@customer.test');
    await page.click('button[type=submit]');
    expect(await page.locator('main').textContent()).toBe(unknown);
    const mail = await smtp.waitFor((m) => m.envelopeTo.includes('visitor@customer.test') && /portal\/auth/.test(m.parsed.text ?? ''));
    const link = local(/(http\S+\/portal\/auth\?token=[\w-]+)/.exec(mail.parsed.text ?? '')![1]!);
    expect(smtp.mails.some((m) => m.envelopeTo.includes('nobody@customer.test'))).toBe(false);
    await page.goto(link);
    // Opening the link spends nothing (mail scanners open links); the button does.
    await page.click('button[type=submit]');
    expect(new URL(page.url()).pathname).toBe('/portal');
    await expect(page.locator('ul.tickets').textContent()).resolves.toContain(`#${mailed.number}`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'portal-list-desktop.png'), fullPage: true });
    const again = await (await browser.newContext()).newPage();
    const second = await again.goto(link);
    expect(second!.status()).toBe(410);
    await context.close();
  });

  it('refuses a forged or expired ticket link and a post without CSRF token', async () => {
    const u = new URL(local(mailed.link));
    u.searchParams.set('sig', 'f'.repeat(32));
    expect((await fetch(u, { redirect: 'manual' })).status).toBe(410);
    const expired = new URL(local(mailed.link));
    expired.searchParams.set('exp', '1000');
    expect((await fetch(expired, { redirect: 'manual' })).status).toBe(410);
    const opened = await fetch(local(mailed.link), { redirect: 'manual' });
    const cookie = opened.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const forged = await fetch(`${app.baseUrl}/portal/tickets/${mailed.number}/close`, { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: 'csrf=nope', redirect: 'manual' });
    expect(forged.status).toBe(403);
  });
});

describe('the website form', () => {
  it('works in an iframe on another origin, files the request with the chosen object and kind, and refuses a forged form token', async () => {
    const admin = apiClient(app.baseUrl, seed.admin.key);
    await app.directory.createCategory(seed.org.id, 'Electrical');
    const created = await admin.post('/forms', { title: 'Service request', fields: ['name', 'email', 'object', 'kind', 'description', 'files'] });
    expect(created.status).toBe(201);
    expect(created.body.embed.script).toMatch(/<script src="[^"]+\/f\/[0-9a-f]{32}\/embed\.js" async><\/script>/);
    expect((await apiClient(app.baseUrl, seed.agent.key).post('/forms', { fields: ['description'] })).status).toBe(403);
    expect((await admin.post('/forms', { fields: ['name'] })).status).toBe(422);
    const formUrl = local(created.body.url);
    const js = await (await fetch(`${formUrl}/embed.js`)).text();
    expect(js).toContain(`/f/${created.body.url.split('/f/')[1]}`);
    expect(js).toContain("createElement('iframe')");

    // A page of the organization's own site, on another origin (localhost, not 127.0.0.1).
    const site = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html><html><body><h1>ACME Facilities</h1>
        <iframe src="${formUrl}" style="width:100%;min-height:700px;border:0"></iframe></body></html>`);
    });
    await new Promise<void>((r) => site.listen(0, '127.0.0.1', () => r()));
    try {
      const context = await browser.newContext({ locale: 'de-DE', viewport: { width: 390, height: 1000 } });
      const page = await context.newPage();
      await page.goto(`http://localhost:${(site.address() as { port: number }).port}/`);
      const frame = page.frameLocator('iframe');
      await frame.locator('input[name=name]').fill('Greta Gärtner');
      await frame.locator('input[name=email]').fill('greta@customer.test');
      await frame.locator('select[name=object]').selectOption({ label: 'Лифт 2, корпус А' });
      await frame.locator('select[name=kind]').selectOption({ label: 'Electrical' });
      await frame.locator('textarea[name=text]').fill('Licht im Flur flackert');
      await frame.locator('button[type=submit]').click();
      // The frame navigates to the answer page: wait for it rather than read the form still showing.
      await frame.locator('main', { hasText: /als #\d+ erfasst/ }).waitFor({ timeout: 15_000 });
      await page.screenshot({ path: path.join(ARTIFACTS, 'website-form-iframe-phone.png'), fullPage: true });
      await context.close();
    } finally {
      site.close();
    }
    const [t] = await sql(`SELECT t.channel, t.object_id, c.name AS category, r.name AS reporter FROM tickets t JOIN reporters r ON r.id = t.reporter_id
                             LEFT JOIN categories c ON c.id = t.category_id WHERE t.subject = 'Licht im Flur flackert'`);
    expect(t).toMatchObject({ channel: 'web', object_id: lift.id, category: 'Electrical', reporter: 'Greta Gärtner' });

    const fd = new FormData();
    fd.append('ft', `${Date.now()}.${'a'.repeat(24)}.${'b'.repeat(32)}`);
    fd.append('text', 'forged');
    fd.append('email', 'x@y.test');
    expect((await fetch(formUrl, { method: 'POST', body: fd })).status).toBe(403);
  });
});
