import { createHmac, randomBytes } from 'node:crypto';

/*
 * What Slack posts at an app's Request URL, shaped as Slack sends it (event callbacks as JSON; block actions,
 * view submissions and shortcuts as a form field `payload`; slash commands as form fields), signed with the
 * app's signing secret.
 */

export interface Team { teamId: string; secret: string; appId?: string }

let counter = 0;
export const slackTs = () => `${Math.floor(Date.now() / 1000)}.${String(100000 + (++counter % 900000)).padStart(6, '0')}`;
const trigger = () => `${Date.now()}.${Math.floor(Math.random() * 1e9)}.${randomBytes(8).toString('hex')}`;

export function sign(secret: string, timestamp: number, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

/** Posts a body to /slack/events, signed (or signed wrong, or stale) as the options say. */
export async function postToSlackApp(baseUrl: string, team: Team, body: string, contentType: string, opts: { timestamp?: number; secret?: string; retryNum?: number; signature?: string } = {}): Promise<{ status: number; text: string }> {
  const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = {
    'content-type': contentType,
    'x-slack-request-timestamp': String(timestamp),
    'x-slack-signature': opts.signature ?? sign(opts.secret ?? team.secret, timestamp, body),
    'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
  };
  if (opts.retryNum !== undefined) {
    headers['x-slack-retry-num'] = String(opts.retryNum);
    headers['x-slack-retry-reason'] = 'http_timeout';
  }
  const res = await fetch(`${baseUrl}/slack/events`, { method: 'POST', headers, body });
  return { status: res.status, text: await res.text() };
}

export function eventCallback(team: Team, event: Record<string, unknown>, eventId = `Ev${randomBytes(5).toString('hex').toUpperCase()}`): { body: string; eventId: string } {
  return {
    eventId,
    body: JSON.stringify({
      token: 'legacy-verification-token', team_id: team.teamId, api_app_id: team.appId ?? 'A0HELPDESK', event, type: 'event_callback',
      event_id: eventId, event_time: Math.floor(Date.now() / 1000),
      authorizations: [{ enterprise_id: null, team_id: team.teamId, user_id: 'UBOT', is_bot: true, is_enterprise_install: false }],
      is_ext_shared_channel: false, event_context: `4-${randomBytes(12).toString('hex')}`,
    }),
  };
}

/** A person's message in a thread (with files: subtype file_share, as Slack sends it). */
export function threadReply(o: { channel: string; user: string; text: string; threadTs: string; files?: unknown[]; team: string }): Record<string, unknown> {
  const ts = slackTs();
  return {
    type: 'message', ...(o.files ? { subtype: 'file_share', files: o.files, upload: false } : {}),
    text: o.text, user: o.user, ts, thread_ts: o.threadTs, parent_user_id: 'UBOT', team: o.team, channel: o.channel, event_ts: ts, channel_type: 'channel',
    blocks: richText(o.text),
  };
}

/**
 * The rich_text blocks Slack's clients send along with a message's mrkdwn `text`: links and mentions as
 * elements of their own, and text without the `&amp;` escaping of `text`.
 */
export function richText(text: string): unknown[] {
  const elements: Array<Record<string, unknown>> = [];
  const unescape = (t: string) => t.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  const plain = (t: string) => t.split(/:([a-z0-9_+-]+):/).forEach((part, i) => {
    if (i % 2 === 1) elements.push({ type: 'emoji', name: part });
    else if (part) elements.push({ type: 'text', text: unescape(part) });
  });
  let at = 0;
  for (const m of text.matchAll(/<([^>]+)>/g)) {
    if (m.index! > at) plain(text.slice(at, m.index));
    const [target, label] = m[1]!.split('|') as [string, string | undefined];
    if (target.startsWith('@')) elements.push({ type: 'user', user_id: target.slice(1) });
    else if (target.startsWith('#')) elements.push({ type: 'channel', channel_id: target.slice(1) });
    else if (target.startsWith('!')) elements.push({ type: 'broadcast', range: target.slice(1) });
    else elements.push({ type: 'link', url: target, ...(label ? { text: unescape(label) } : {}) });
    at = m.index! + m[0].length;
  }
  if (at < text.length) plain(text.slice(at));
  return [{ type: 'rich_text', block_id: randomBytes(3).toString('hex'), elements: [{ type: 'rich_text_section', elements }] }];
}

/** A message the bot itself posted, as the Events API echoes it back. */
export function botMessage(o: { channel: string; botUserId: string; text: string; threadTs?: string }): Record<string, unknown> {
  const ts = slackTs();
  return {
    type: 'message', subtype: 'bot_message', text: o.text, ts, bot_id: 'B0HELPDESK', user: o.botUserId, app_id: 'A0HELPDESK',
    ...(o.threadTs ? { thread_ts: o.threadTs } : {}), channel: o.channel, event_ts: ts, channel_type: 'channel',
    bot_profile: { id: 'B0HELPDESK', app_id: 'A0HELPDESK', name: 'Helpdesk', deleted: false },
  };
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
export const FORM = 'application/x-www-form-urlencoded';

/** A click on a button (or a choice in the priority menu) of a ticket's message. */
export function blockAction(team: Team, o: { user: string; channel: string; messageTs: string; actionId: string; number: number; selected?: string; responseUrl: string }): string {
  const action = o.selected
    ? { type: 'static_select', action_id: o.actionId, block_id: `ticket_${o.number}`, selected_option: { text: { type: 'plain_text', text: o.selected }, value: o.selected }, action_ts: slackTs() }
    : { type: 'button', action_id: o.actionId, block_id: `ticket_${o.number}`, text: { type: 'plain_text', text: o.actionId }, value: String(o.number), action_ts: slackTs() };
  return form({ payload: JSON.stringify({
    type: 'block_actions', user: { id: o.user, username: 'agent', name: 'agent', team_id: team.teamId }, api_app_id: team.appId ?? 'A0HELPDESK',
    token: 'legacy', container: { type: 'message', message_ts: o.messageTs, channel_id: o.channel, is_ephemeral: false },
    trigger_id: trigger(), team: { id: team.teamId, domain: 'example' }, enterprise: null, is_enterprise_install: false,
    channel: { id: o.channel, name: 'triage' }, message: { type: 'message', ts: o.messageTs, user: 'UBOT', text: '' },
    state: { values: {} }, response_url: o.responseUrl, actions: [action],
  }) });
}

export function slashCommand(team: Team, o: { user: string; channel: string; text: string; responseUrl: string; command?: string }): string {
  return form({
    token: 'legacy', team_id: team.teamId, team_domain: 'example', channel_id: o.channel, channel_name: 'triage', user_id: o.user, user_name: 'agent',
    command: o.command ?? '/ticket', text: o.text, api_app_id: team.appId ?? 'A0HELPDESK', is_enterprise_install: 'false',
    response_url: o.responseUrl, trigger_id: trigger(),
  });
}

export function viewSubmission(team: Team, o: { user: string; viewId: string; values: Record<string, string> }): string {
  const v = (block: string, value: string) => (block === 'priority'
    ? { [block]: { value: { type: 'static_select', selected_option: { text: { type: 'plain_text', text: value }, value } } } }
    : { [block]: { value: { type: block === 'reporter' ? 'email_text_input' : 'plain_text_input', value } } });
  return form({ payload: JSON.stringify({
    type: 'view_submission', team: { id: team.teamId, domain: 'example' }, user: { id: o.user, username: 'agent', team_id: team.teamId },
    api_app_id: team.appId ?? 'A0HELPDESK', token: 'legacy', trigger_id: trigger(),
    view: { id: o.viewId, team_id: team.teamId, type: 'modal', callback_id: 'ticket_new', hash: `${Date.now()}.abc`, private_metadata: '',
      state: { values: Object.assign({}, ...Object.entries(o.values).map(([k, val]) => v(k, val))) } },
    response_urls: [], is_enterprise_install: false, enterprise: null,
  }) });
}

export function messageShortcut(team: Team, o: { user: string; channel: string; message: Record<string, unknown>; responseUrl: string }): string {
  return form({ payload: JSON.stringify({
    type: 'message_action', token: 'legacy', action_ts: slackTs(), team: { id: team.teamId, domain: 'example' }, user: { id: o.user, name: 'agent', team_id: team.teamId },
    channel: { id: o.channel, name: 'general' }, is_enterprise_install: false, enterprise: null, callback_id: 'create_ticket', trigger_id: trigger(),
    response_url: o.responseUrl, message_ts: o.message.ts, message: o.message,
  }) });
}
