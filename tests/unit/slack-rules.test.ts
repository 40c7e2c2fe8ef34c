import { describe, expect, it } from 'vitest';
import { renderCard, threadText } from '../../src/channels/slack/card.ts';
import { readMarker, ticketNumber } from '../../src/channels/slack/inbound.ts';
import { mentionedUsers, richTextToPlain, slackMessageToPlain, slackToPlain } from '../../src/channels/slack/plain-text.ts';
import { claimedTeam, judgeSlackRequest, readSlackBody } from '../../src/channels/slack/request-shape.ts';
import { readNewTicket } from '../../src/channels/slack/modal.ts';
import { isPersonReplyInThread } from '../../src/channels/slack/receiver.ts';
import { classifySlackError, isSlackAddress, SlackRefusal } from '../../src/channels/slack/web-api.ts';
import { DeliveryError } from '../../src/core/ports.ts';
import { wellFormed } from '../../src/core/text.ts';
import type { TicketCard } from '../../src/persistence/slack-store.ts';

const card: TicketCard = {
  id: 't', organizationId: 'o', number: 1042, subject: 'Printer <jams> & smokes', status: 'new', priority: 'high', deadline: null,
  channel: 'telegram', reporterName: 'Anna', reporterAddress: '9001', objectName: 'Printer 3F', categoryId: null, categoryName: null,
  serviceId: null, serviceName: null, assigneeName: null, createdAt: '2026-11-22T10:00:00Z', thread: null,
};

describe('note markers', () => {
  it('a reply starting with a marker is a note without the marker; others are public', () => {
    expect(readMarker('note: check logs', ['note:', '//'])).toMatchObject({ internal: true, text: 'check logs' });
    expect(readMarker('  NOTE: Upper case', ['note:'])).toMatchObject({ internal: true, text: 'Upper case' });
    expect(readMarker('// slashes', ['note:', '//'])).toMatchObject({ internal: true, text: 'slashes' });
    expect(readMarker('A note: not at the start', ['note:'])).toEqual({ internal: false, text: 'A note: not at the start' });
    expect(readMarker('see https://x.test//path', ['//'])).toEqual({ internal: false, text: 'see https://x.test//path' });
  });
});

describe("Slack's markup for reporters", () => {
  it('turns links, mentions, channels and entities into plain text', () => {
    expect(slackToPlain('See <https://a.test/x|the guide> or <https://b.test>, ask <@U123|alex> in <#C1|it-help> &amp; <mailto:it@a.test|it@a.test> &lt;3'))
      .toBe('See the guide (https://a.test/x) or https://b.test, ask @alex in #it-help & it@a.test <3');
    expect(slackToPlain('<!here> ping <@U99>')).toBe('@here ping @U99');
  });
  it('names mentioned people, turns emoji names into emoji and drops bold, italics, strikes and code marks', () => {
    const names = new Map([['U0BORIS01', 'Boris Petrov']]);
    expect(slackToPlain('Hi <@U0BORIS01>, *Спасибо* :thumbsup::skin-tone-3: _really_ ~no~ `ls -la` :no_such_emoji:', names))
      .toBe('Hi @Boris Petrov, Спасибо 👍🏼 really no ls -la :no_such_emoji:');
    // Not markup: arithmetic, snake_case, paths, times.
    expect(slackToPlain('2 * 3 * 4 = 24, my_var_name, /usr/local_bin/x_y, 10:30:45')).toBe('2 * 3 * 4 = 24, my_var_name, /usr/local_bin/x_y, 10:30:45');
    expect(slackToPlain('```\nline 1\nline 2\n```')).toBe('line 1\nline 2');
    expect(slackToPlain('Due <!date^1392734382^{date_short}|Feb 18, 2014>')).toBe('Due Feb 18, 2014');
  });
  it("reads rich_text blocks: what was written, with people's names, emoji, links and lists", () => {
    const blocks = [{ type: 'rich_text', block_id: 'b', elements: [
      { type: 'rich_text_section', elements: [
        { type: 'text', text: 'Hi ' }, { type: 'user', user_id: 'U0BORIS01' }, { type: 'text', text: ', fixed ', style: { bold: true } },
        { type: 'emoji', name: 'white_check_mark', unicode: '2705' }, { type: 'text', text: ' see ' },
        { type: 'link', url: 'https://kb.example.org/vpn', text: 'the guide' }, { type: 'text', text: '\n' }] },
      { type: 'rich_text_list', style: 'ordered', indent: 0, elements: [
        { type: 'rich_text_section', elements: [{ type: 'text', text: 'restart' }] },
        { type: 'rich_text_section', elements: [{ type: 'text', text: 'log in' }] }] },
      { type: 'rich_text_quote', elements: [{ type: 'text', text: 'it says 403' }] },
    ] }];
    const names = new Map([['U0BORIS01', 'Boris Petrov']]);
    expect(richTextToPlain(blocks, names)).toBe('Hi @Boris Petrov, fixed ✅ see the guide (https://kb.example.org/vpn)\n1. restart\n2. log in\n> it says 403');
    expect(mentionedUsers('and <@U0OTHER>', blocks).sort()).toEqual(['U0BORIS01', 'U0OTHER']);
    // Without blocks, the text is read.
    expect(slackMessageToPlain('plain <https://a.test|a>', undefined)).toBe('plain a (https://a.test)');
    expect(richTextToPlain([{ type: 'section', text: { type: 'mrkdwn', text: 'x' } }])).toBeNull();
  });
});

describe('which messages are replies', () => {
  const base = { type: 'message', user: 'U1', ts: '2.0', thread_ts: '1.0', text: 'hi' };
  it('only people writing in a thread', () => {
    expect(isPersonReplyInThread(base, 'UBOT')).toBe(true);
    expect(isPersonReplyInThread({ ...base, subtype: 'file_share' }, 'UBOT')).toBe(true);
    expect(isPersonReplyInThread({ ...base, thread_ts: undefined }, 'UBOT')).toBe(false);
    expect(isPersonReplyInThread({ ...base, thread_ts: '2.0' }, 'UBOT')).toBe(false);
    expect(isPersonReplyInThread({ ...base, user: 'UBOT' }, 'UBOT')).toBe(false);
    expect(isPersonReplyInThread({ ...base, bot_id: 'B1' }, 'UBOT')).toBe(false);
    expect(isPersonReplyInThread({ ...base, subtype: 'message_changed' }, 'UBOT')).toBe(false);
    expect(isPersonReplyInThread({ ...base, subtype: 'channel_join' }, 'UBOT')).toBe(false);
  });
});

describe('the ticket message', () => {
  it('escapes what people wrote, shows the fields, and hides buttons that do not apply', () => {
    const open = renderCard(card, 'https://h.test/t/1042', 'en');
    const json = JSON.stringify(open.blocks);
    expect(json).toContain('Printer &lt;jams&gt; &amp; smokes');
    // The message's text (notifications) too, so a subject like "<!channel>" cannot ping anyone.
    expect(open.text).toContain('Printer &lt;jams&gt; &amp; smokes');
    expect(json).toContain('via Telegram');
    expect(json).toContain('Printer 3F');
    expect(json).toContain('ticket_take');
    const closed = renderCard({ ...card, status: 'closed', assigneeName: 'Alex' }, 'https://h.test/t/1042', 'en');
    expect(JSON.stringify(closed.blocks)).not.toContain('ticket_');
    expect(closed.hash).not.toBe(open.hash);
    expect(renderCard(card, 'https://h.test/t/1042', 'en').hash).toBe(open.hash);
  });
  it("speaks the workspace's language, and a change of language is a change Slack must be shown", () => {
    const en = renderCard(card, 'https://h.test/t/1042', 'en');
    const ru = renderCard(card, 'https://h.test/t/1042', 'ru');
    const de = renderCard(card, 'https://h.test/t/1042', 'de');
    const ruJson = JSON.stringify(ru.blocks);
    expect(ruJson).toContain('Заявитель');
    expect(ruJson).toContain('Взять');
    expect(ruJson).toContain('Закрыть');
    expect(ruJson).not.toMatch(/Reporter|Take|Close/);
    expect(JSON.stringify(de.blocks)).toContain('Übernehmen');
    // The priority's value stays the one the core knows, whatever its label says.
    expect(ruJson).toContain('"value":"urgent"');
    expect(new Set([en.hash, ru.hash, de.hash]).size).toBe(3);
  });
});

describe('the new-ticket form', () => {
  it('names every field that is wrong', () => {
    const values = { reporter: { value: { value: 'nope' } }, subject: { value: { value: ' ' } }, description: { value: { value: '' } }, priority: { value: { selected_option: { value: 'normal' } } } };
    expect(readNewTicket(values, 'en')).toEqual({ errors: { reporter: expect.any(String), subject: expect.any(String), description: expect.any(String) } });
    expect(readNewTicket(values, 'de')).toMatchObject({ errors: { subject: 'Ein paar Worte, worum es geht.' } });
    const long = { ...values, reporter: { value: { value: 'a@b.test' } }, subject: { value: { value: 's'.repeat(301) } }, description: { value: { value: 'd' } } };
    expect(readNewTicket(long, 'en')).toEqual({ errors: { subject: 'At most 300 characters.' } });
  });
});

describe('Slack errors', () => {
  it('429 waits, a refusal is permanent with a hint, the rest is retried', () => {
    const limited = classifySlackError({ code: 'slack_webapi_rate_limited_error', retryAfter: 7 });
    expect(limited).toBeInstanceOf(DeliveryError);
    expect((limited as DeliveryError).retryAfterMs).toBe(7000);
    const refused = classifySlackError({ code: 'slack_webapi_platform_error', data: { error: 'not_in_channel' } });
    expect(refused).toBeInstanceOf(SlackRefusal);
    expect(refused.message).toContain('/invite');
    expect((classifySlackError({ code: 'slack_webapi_platform_error', data: { error: 'internal_error' } }) as DeliveryError).reason).toBe('transient');
    expect((classifySlackError(new Error('ECONNRESET')) as DeliveryError).reason).toBe('transient');
  });
});

describe('ticket numbers typed by people', () => {
  it('takes 1042 and #1042, and nothing that cannot be a ticket number', () => {
    expect(ticketNumber('1042')).toBe(1042);
    expect(ticketNumber(' #1042 ')).toBe(1042);
    for (const bad of ['', '0', '-3', '1.5', 'abc', '99999999999999999999', '2147483648']) expect(ticketNumber(bad), bad).toBeNull();
  });
});

describe('the shape of what reaches Bolt', () => {
  const json = (v: unknown) => judgeSlackRequest(readSlackBody(Buffer.from(JSON.stringify(v)), 'application/json'));
  const form = (v: Record<string, string>) => judgeSlackRequest(readSlackBody(Buffer.from(new URLSearchParams(v).toString()), 'application/x-www-form-urlencoded; charset=utf-8'));
  it('passes what this app handles, in the shape Slack sends it', () => {
    expect(json({ type: 'url_verification', challenge: 'c' })).toEqual({ verdict: 'bolt' });
    expect(json({ type: 'event_callback', event: { type: 'message' }, event_id: 'Ev1' })).toEqual({ verdict: 'bolt' });
    expect(form({ payload: JSON.stringify({ type: 'block_actions', user: { id: 'U1' }, actions: [{ action_id: 'ticket_take' }] }) })).toEqual({ verdict: 'bolt' });
    expect(form({ command: '/ticket', text: '', user_id: 'U1', channel_id: 'C1', trigger_id: 't' })).toEqual({ verdict: 'bolt' });
    expect(form({ ssl_check: '1', token: 'x' })).toEqual({ verdict: 'bolt' });
  });
  it('acknowledges well-formed requests it has no handler for, and refuses the rest saying why', () => {
    expect(form({ payload: JSON.stringify({ type: 'block_actions', user: { id: 'U1' }, actions: [{ action_id: 'other_app_button' }] }) }).verdict).toBe('ignore');
    expect(form({ payload: JSON.stringify({ type: 'message_action', callback_id: 'other', user: { id: 'U1' }, channel: { id: 'C1' }, message: { ts: '1.2' } }) }).verdict).toBe('ignore');
    expect(json(null)).toMatchObject({ verdict: 'refuse', status: 400 });
    expect(json({ type: 'event_callback', event: null })).toMatchObject({ verdict: 'refuse', message: expect.stringContaining('event object') });
    expect(json({ type: 'something_new' })).toMatchObject({ verdict: 'ignore', why: expect.stringContaining('"something_new"') });
    expect(json({ event: { type: 'message' } })).toMatchObject({ verdict: 'refuse', status: 400 });
    expect(form({ payload: JSON.stringify({ type: 'view_submission', user: { id: 'U1' } }) })).toMatchObject({ verdict: 'refuse' });
    expect(judgeSlackRequest(readSlackBody(Buffer.from('x'), 'text/plain'))).toMatchObject({ verdict: 'refuse', status: 415 });
  });
  it('reads the team a request names: the authorized one for events, the team of interactions and commands', () => {
    const read = (body: string, type: string) => claimedTeam(readSlackBody(Buffer.from(body), type));
    expect(read(JSON.stringify({ team_id: 'T_OWNER', authorizations: [{ team_id: 'T_US' }], event: { type: 'message' } }), 'application/json')).toBe('T_US');
    expect(read(`payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', team: { id: 'T_ACT' } }))}`, 'application/x-www-form-urlencoded')).toBe('T_ACT');
    expect(read('command=%2Fticket&team_id=T_CMD', 'application/x-www-form-urlencoded')).toBe('T_CMD');
    expect(read('null', 'application/json')).toBeUndefined();
  });
});

describe('long thread posts', () => {
  it('are cut between characters and outside an entity, with a pointer to the ticket', () => {
    const body = `${'a'.repeat(38_999)}😀${'b'.repeat(2000)}`;
    const text = threadText('head', body, 'https://h.test/t/1', 'en');
    expect(text).toMatch(/a…\n_\(cut; the whole message is on <https:\/\/h\.test\/t\/1\|the ticket>\)_$/);
    expect(wellFormed(text)).toBe(text);
    const entity = threadText('head', `${'a'.repeat(38_998)}&${'b'.repeat(2000)}`, 'https://h.test/t/1', 'en');
    expect(entity).toContain('a…');
    expect(entity).not.toContain('&am');
  });
});

describe('addresses from payloads', () => {
  const api = 'https://slack.com/api/';
  it("Slack's own hosts (and the configured Web API's) are fetched; anything else is not", () => {
    expect(isSlackAddress('https://files.slack.com/files-pri/T1-F1/download/a.pdf', api)).toBe(true);
    expect(isSlackAddress('https://hooks.slack.com/commands/T1/1/abc', api)).toBe(true);
    expect(isSlackAddress('http://127.0.0.1:4000/files-pri/F1', 'http://127.0.0.1:4000/api/')).toBe(true);
    for (const bad of ['http://169.254.169.254/latest/meta-data', 'http://files.slack.com/x', 'https://files.slack.com:8443/x', 'https://slack.com.evil.test/x',
      'https://evilslack.com/x', 'http://127.0.0.1:4001/x', 'file:///etc/passwd', 'not a url']) {
      expect(isSlackAddress(bad, bad.startsWith('http://127') ? 'http://127.0.0.1:4000/api/' : api), bad).toBe(false);
    }
  });
});
