import { z } from 'zod';
import { ACTIONS } from './card.ts';
import { NEW_TICKET_CALLBACK } from './modal.ts';

export const SHORTCUT_CALLBACK = 'create_ticket';

/**
 * What to do with a signed request to the Request URL, judged by its shape before Bolt sees it:
 * - `bolt`: one of the requests this app handles, in the shape Slack sends it;
 * - `ignore`: a well-formed Slack request this app has no handler for, or of a kind it does not know (answered
 *   200: it is signed, so it is Slack's, and Slack should not retry it);
 * - `refuse`: not a Slack request at all (answered 400 with what was expected).
 * Bolt answers malformed bodies with an empty 400, a 404 after three seconds or a 500, and a body of `null`
 * throws inside its receiver where nothing catches it: only bodies that pass here reach it.
 */
export type Verdict = { verdict: 'bolt' } | { verdict: 'ignore'; why: string } | { verdict: 'refuse'; status: 400 | 415; message: string };

const id = z.string().min(1);
const object = z.object({}).passthrough();

const urlVerification = z.object({ type: z.literal('url_verification'), challenge: z.string() });
const eventCallback = z.object({ type: z.literal('event_callback'), event: z.object({ type: id }).passthrough(), event_id: z.string().optional() });

const blockActions = z.object({
  type: z.literal('block_actions'),
  user: z.object({ id }).passthrough(),
  actions: z.array(z.object({ action_id: id }).passthrough()).min(1),
});
const viewSubmission = z.object({
  type: z.literal('view_submission'),
  user: z.object({ id }).passthrough(),
  view: z.object({ id, callback_id: z.string(), state: z.object({ values: object }).passthrough() }).passthrough(),
});
const messageAction = z.object({
  type: z.literal('message_action'),
  callback_id: z.string(),
  user: z.object({ id }).passthrough(),
  channel: z.object({ id }).passthrough(),
  message: z.object({ ts: id }).passthrough(),
});
const slashCommand = z.object({ command: z.string().startsWith('/'), text: z.string(), user_id: id, channel_id: id, trigger_id: id });

const OUR_ACTIONS = new Set<string>(Object.values(ACTIONS));

/** A request body read once: JSON (events), a form (slash commands) with its JSON `payload` (interactivity), or neither. */
export type SlackBody =
  | { kind: 'json'; value: unknown }
  | { kind: 'form'; form: URLSearchParams; payload: unknown }
  | { kind: 'other' };

export function readSlackBody(raw: Buffer, contentType: string): SlackBody {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json') return { kind: 'json', value: parseJson(raw.toString('utf8')) };
  if (type === 'application/x-www-form-urlencoded') {
    const form = new URLSearchParams(raw.toString('utf8'));
    const payload = form.get('payload');
    return { kind: 'form', form, payload: payload === null ? undefined : parseJson(payload) };
  }
  return { kind: 'other' };
}

/**
 * The team a request says it comes from (unverified: it only orders the secrets tried). In a channel shared
 * with another organization an event's team_id is the channel's owner; the workspace it was delivered for is
 * the one authorized.
 */
export function claimedTeam(body: SlackBody): string | undefined {
  const v = (body.kind === 'json' ? body.value : body.kind === 'form' ? (body.payload ?? Object.fromEntries(body.form)) : undefined) as
    { authorizations?: Array<{ team_id?: string }>; team_id?: string; team?: { id?: string } } | null | undefined;
  if (!isObject(v)) return undefined;
  return v.authorizations?.[0]?.team_id ?? v.team_id ?? v.team?.id ?? undefined;
}

export function judgeSlackRequest(body: SlackBody): Verdict {
  if (body.kind === 'json') return judgeJson(body.value);
  if (body.kind === 'form') return judgeForm(body.form, body.payload);
  return { verdict: 'refuse', status: 415, message: 'Slack sends application/json (events) or application/x-www-form-urlencoded (interactivity, slash commands) here.' };
}

function judgeJson(body: unknown): Verdict {
  if (!isObject(body)) return refuse('The body is not a Slack event: a JSON object was expected.');
  if (body.type === 'url_verification') return urlVerification.safeParse(body).success ? bolt() : refuse('A Slack url_verification request carries its challenge as a string.');
  if (body.type === 'event_callback') return eventCallback.safeParse(body).success ? bolt() : refuse('A Slack event_callback carries an event object with a type.');
  if (body.type === 'app_rate_limited') return { verdict: 'ignore', why: 'Slack says it is dropping events for this app' };
  // Signed, so Slack's: a kind of callback this version does not know is acknowledged, not refused.
  if (typeof body.type === 'string') return { verdict: 'ignore', why: `no handler for ${describe(body.type)}` };
  return refuse('A Slack event body carries its type (url_verification, event_callback).');
}

function judgeForm(form: URLSearchParams, payload: unknown): Verdict {
  if (form.get('ssl_check') === '1') return bolt();
  if (form.has('payload')) return judgeInteraction(payload);
  if (form.has('command')) {
    return slashCommand.safeParse(Object.fromEntries(form)).success
      ? bolt()
      : refuse('A Slack slash command carries command, text, user_id, channel_id and trigger_id.');
  }
  return refuse('The form is not a Slack request: it has neither a payload (interactivity) nor a command.');
}

function judgeInteraction(body: unknown): Verdict {
  if (!isObject(body) || typeof body.type !== 'string') return refuse('The payload is not a Slack interaction: a JSON object with a type was expected.');
  const shaped = (schema: z.ZodTypeAny, what: string) => (schema.safeParse(body).success ? null : refuse(`This Slack ${body.type} payload lacks ${what}.`));
  switch (body.type) {
    case 'block_actions': {
      const bad = shaped(blockActions, 'a user id or its actions');
      if (bad) return bad;
      const actions = body.actions as Array<{ action_id: string }>;
      return OUR_ACTIONS.has(actions[0]!.action_id) ? bolt() : { verdict: 'ignore', why: `no handler for action ${actions[0]!.action_id}` };
    }
    case 'view_submission': {
      const bad = shaped(viewSubmission, 'a user id, or a view with its id, callback_id and state');
      if (bad) return bad;
      const callback = (body.view as { callback_id: string }).callback_id;
      return callback === NEW_TICKET_CALLBACK ? bolt() : { verdict: 'ignore', why: `no handler for view ${callback}` };
    }
    case 'message_action': {
      const bad = shaped(messageAction, 'a callback_id, user, channel or message');
      if (bad) return bad;
      return body.callback_id === SHORTCUT_CALLBACK ? bolt() : { verdict: 'ignore', why: `no handler for shortcut ${String(body.callback_id)}` };
    }
    default:
      // view_closed, global shortcuts, block_suggestion, and kinds this version does not know.
      return { verdict: 'ignore', why: `no handler for ${describe(body.type)}` };
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const describe = (type: string) => `"${type.slice(0, 40)}"`;
const bolt = (): Verdict => ({ verdict: 'bolt' });
const refuse = (message: string): Verdict => ({ verdict: 'refuse', status: 400, message });
