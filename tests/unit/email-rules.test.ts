import { describe, expect, it } from 'vitest';
import { baseAddress, classifyMail, type MailHeaders } from '../../src/channels/email/automatic.ts';
import { replyAddress, ticketFromAddresses } from '../../src/channels/email/reply-address.ts';
import { trimQuotedReply } from '../../src/channels/email/reply-trim.ts';
import { guessLocale, render, defaultTemplate } from '../../src/channels/email/templates.ts';
import { cleanSubject, subjectTicketNumber, threadMail, type ThreadedTicket } from '../../src/channels/email/threading.ts';
import { SecretBox } from '../../src/security/secret-box.ts';
import { Signer, ticketLink, verifyTicketLink } from '../../src/security/signed-tokens.ts';

const headers = (h: Record<string, string>): MailHeaders => ({ get: (n) => (h[n.toLowerCase()] !== undefined ? [h[n.toLowerCase()]!] : []) });
const classify = (h: Record<string, string>, from = 'person@customer.test', contentType = 'text/plain') =>
  classifyMail({ headers: headers(h), from, contentType, deliveryStatus: [], ownAddresses: new Set(['support@helpdesk.test']) });

describe('automatic mail', () => {
  it('lets mail a person wrote through', () => {
    expect(classify({}).kind).toBe('human');
    expect(classify({ 'auto-submitted': 'no' }).kind).toBe('human');
    expect(classify({ precedence: 'first-class' }).kind).toBe('human');
  });
  it.each([
    [{ 'auto-submitted': 'auto-replied' }],
    [{ 'auto-submitted': 'auto-generated' }],
    [{ precedence: 'bulk' }],
    [{ precedence: 'junk' }],
    [{ precedence: 'list' }],
    [{ 'x-autoreply': 'yes' }],
    [{ 'x-auto-response-suppress': 'All' }],
    [{ 'list-id': '<news.vendor.test>' }],
  ])('drops %o', (h) => {
    expect(classify(h).kind).toBe('automatic');
  });
  it('drops our own mail coming back, also with a +tag', () => {
    expect(classify({}, 'support+t.1001.abc@helpdesk.test')).toMatchObject({ kind: 'automatic', reason: 'sent from one of our own addresses' });
    expect(baseAddress('Support+x@Helpdesk.test')).toBe('support@helpdesk.test');
  });
  it('knows bounces and who bounced', () => {
    expect(classify({}, 'MAILER-DAEMON@mx.test').kind).toBe('bounce');
    expect(classify({ 'return-path': '<>' }).kind).toBe('bounce');
    expect(classify({}, '').kind).toBe('bounce');
    const report = classifyMail({
      headers: headers({ 'x-failed-recipients': 'b@x.test' }), from: 'postmaster@mx.test',
      contentType: 'multipart/report; report-type=delivery-status; boundary="x"', ownAddresses: new Set(),
      deliveryStatus: ['Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; A@x.test\nAction: failed\n\nFinal-Recipient: rfc822; ok@x.test\nAction: delivered\n'],
    });
    expect(report).toMatchObject({ kind: 'bounce', reason: 'delivery status report' });
    expect(report.kind === 'bounce' && report.failedRecipients.sort()).toEqual(['a@x.test', 'b@x.test']);
  });
});

describe('quoted history', () => {
  it.each([
    ['Thanks, works now.\n\nOn Mon, 23 Nov 2026 at 10:00, Support <s@x.test> wrote:\n> Restart it.', 'Thanks, works now.'],
    ['Спасибо, заработало.\n\n23 нояб. 2026 г., в 10:00, Support <s@x.test> написал(а):\n> Перезапустите.', 'Спасибо, заработало.'],
    ['Danke!\n\nAm 23.11.2026 um 10:00 schrieb Support <s@x.test>:\n> Bitte neu starten.', 'Danke!'],
    ['Still broken\n\n-----Original Message-----\nFrom: Support\nSent: today\n\nhello', 'Still broken'],
    ['Fixed\n\nОт: Support <s@x.test>\nОтправлено: 23 ноября\nТема: [#1001] Printer\n\nold text', 'Fixed'],
    ['Geht wieder\n\nVon: Support <s@x.test>\nGesendet: Montag\nBetreff: x\n\nalt', 'Geht wieder'],
  ])('is trimmed from %j', (text, expected) => {
    expect(trimQuotedReply(text)).toBe(expected);
  });
  it('keeps a mail that is only a quote', () => {
    expect(trimQuotedReply('> forwarded\n> text')).toBe('> forwarded\n> text');
  });
});

describe('threading', () => {
  const ticket = (over: Partial<ThreadedTicket> = {}): ThreadedTicket => ({ number: 1042, status: 'open', reporterId: 'r1', closedAt: null, ...over });
  const lookup = (t: ThreadedTicket | null, sender: string | null, byIds = true) => ({
    byMessageIds: async () => (byIds ? t : null), byNumber: async (n: number) => (t && t.number === n ? t : null), senderReporterId: async () => sender,
  });
  const input = { referenced: ['<a@b>'], replyAddressTicket: null, subject: 'Re: [#1042] x', reopenWindowMs: 7 * 86_400_000, now: new Date('2026-11-22T12:00:00Z') };

  it('prefers references, then the reply address, then the subject tag', async () => {
    expect(await threadMail(input, lookup(ticket(), 'r1'))).toEqual({ rule: 'references', ticketNumber: 1042 });
    expect(await threadMail({ ...input, referenced: [], replyAddressTicket: 1042 }, lookup(ticket(), 'r1', false))).toEqual({ rule: 'reply-address', ticketNumber: 1042 });
    expect(await threadMail({ ...input, referenced: [] }, lookup(ticket(), 'r1', false))).toEqual({ rule: 'subject-tag', ticketNumber: 1042 });
    expect(await threadMail({ ...input, referenced: [], subject: 'hello' }, lookup(ticket(), 'r1', false))).toEqual({ rule: 'new' });
  });
  it('never lets someone else write into the ticket', async () => {
    const tagged = await threadMail({ ...input, referenced: [] }, lookup(ticket(), 'r2', false));
    expect(tagged.rule).toBe('new');
    expect(tagged.followUpOf).toBeUndefined();
    expect(await threadMail(input, lookup(ticket(), null))).toMatchObject({ rule: 'new', followUpOf: 1042 });
  });
  it('reopens within the window, links a new ticket after it', async () => {
    const closed = (daysAgo: number) => ticket({ status: 'closed', closedAt: new Date(input.now.getTime() - daysAgo * 86_400_000) });
    expect(await threadMail(input, lookup(closed(6), 'r1'))).toEqual({ rule: 'references', ticketNumber: 1042 });
    const late = await threadMail(input, lookup(closed(8), 'r1'));
    expect(late).toMatchObject({ rule: 'references', followUpOf: 1042 });
    expect(late.ticketNumber).toBeUndefined();
  });
  it('reads tags and cleans subjects', () => {
    expect(subjectTicketNumber('AW: Re: [#1042] Drucker')).toBe(1042);
    expect(subjectTicketNumber('Invoice #1042')).toBeNull();
    expect(cleanSubject('Re: Fwd: [#1042] Printer')).toBe('Printer');
    expect(cleanSubject('Ответ: RE[2]: Принтер')).toBe('Принтер');
    expect(cleanSubject('AW: WG: Drucker')).toBe('Drucker');
  });
});

describe('texts', () => {
  it('fills placeholders and leaves unknown ones visible', () => {
    const out = render({ subject: '[#{{number}}] {{subject}}\n', body: '{{text}} {{nope}}' }, { number: '7', subject: 'S', text: 'T' });
    expect(out).toEqual({ subject: '[#7] S', body: 'T {{nope}}' });
    expect(defaultTemplate('ticket_received', 'de').body).toContain('{{number}}');
  });
  it('guesses the language of a first mail', () => {
    expect(guessLocale('Принтер не печатает', null)).toBe('ru');
    expect(guessLocale('Der Drucker funktioniert nicht', null)).toBe('de');
    expect(guessLocale('The printer is broken', null)).toBe('en');
    expect(guessLocale('The printer is broken', 'de-DE')).toBe('de');
  });
});

describe('secrets and signatures', () => {
  it('seals and opens, and refuses another key or a changed value', () => {
    const box = new SecretBox('a-long-enough-secret');
    const sealed = box.seal('p@ss wörd');
    expect(sealed).not.toContain('p@ss');
    expect(box.open(sealed)).toBe('p@ss wörd');
    expect(() => new SecretBox('another-long-secret').open(sealed)).toThrow(/APP_SECRET/);
    // A changed byte of the ciphertext (changing its last base64 characters may leave the bytes as they were).
    const [version, iv, tag, data] = sealed.split('.');
    const bytes = Buffer.from(data!, 'base64url');
    bytes[0] = bytes[0]! ^ 0x01;
    expect(() => box.open([version, iv, tag, bytes.toString('base64url')].join('.'))).toThrow(/cannot be decrypted/);
  });
  it('signs reply addresses per organization and ticket', () => {
    const signer = new Signer('s3cret-s3cret-s3cret');
    const address = replyAddress(signer, 'Support@Example.com', 'org-1', 1042);
    expect(address).toMatch(/^support\+t\.1042\.[0-9a-f]{12}@example\.com$/);
    expect(ticketFromAddresses(signer, 'org-1', ['x@y.z', address.toUpperCase()])).toBe(1042);
    expect(ticketFromAddresses(signer, 'org-2', [address])).toBeNull();
    expect(ticketFromAddresses(signer, 'org-1', [address.replace('1042', '1043')])).toBeNull();
    // A shortened signature is not a weaker one that still passes.
    expect(ticketFromAddresses(signer, 'org-1', [address.replace(/\.([0-9a-f]{12})@/, (_, sig: string) => `.${sig.slice(0, 10)}@`)])).toBeNull();
  });
  it('signs ticket links that expire', () => {
    const signer = new Signer('s3cret-s3cret-s3cret');
    const link = new URL(ticketLink(signer, 'https://help.example.org', { organizationId: 'org-1', number: 7, reporterId: 'rep-1' }, new Date('2026-12-01T00:00:00Z')));
    const q = { org: link.searchParams.get('org')!, number: 7, reporter: link.searchParams.get('r')!, exp: Number(link.searchParams.get('exp')), sig: link.searchParams.get('sig')! };
    expect(link.pathname).toBe('/portal/tickets/7');
    expect(verifyTicketLink(signer, q, new Date('2026-11-30T00:00:00Z'))).toBe('valid');
    expect(verifyTicketLink(signer, q, new Date('2026-12-02T00:00:00Z'))).toBe('expired');
    expect(verifyTicketLink(signer, { ...q, number: 8 })).toBe('invalid');
    expect(verifyTicketLink(signer, { ...q, sig: q.sig.slice(0, 10) })).toBe('invalid');
    expect(verifyTicketLink(signer, { ...q, reporter: 'rep-2' })).toBe('invalid');
  });
});
