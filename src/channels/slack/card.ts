import { createHash } from 'node:crypto';
import { PRIORITIES } from '../../core/vocabulary.ts';
import type { TicketCard } from '../../persistence/slack-store.ts';

/** The buttons' action ids, shared by the card and the handlers. */
export const ACTIONS = { take: 'ticket_take', priority: 'ticket_priority', resolve: 'ticket_resolve', close: 'ticket_close' } as const;

const CHANNEL_NAMES: Record<string, string> = {
  email: 'email', telegram: 'Telegram', slack: 'Slack', web: 'web form', qr: 'QR code', api: 'API', system: 'system',
};
/** Statuses as agents say them (the reporters' wording, "waiting for your answer", would be wrong here). */
const STAFF_STATUS: Record<string, string> = {
  new: 'New', open: 'Open', in_progress: 'In progress', waiting: 'Waiting for the reporter', resolved: 'Resolved', closed: 'Closed',
};
const PRIORITY_EMOJI: Record<string, string> = { low: ':white_circle:', normal: ':large_blue_circle:', high: ':large_orange_circle:', urgent: ':red_circle:' };

/** Slack's mrkdwn treats these three as markup; everything people wrote is escaped. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export interface RenderedCard {
  text: string;
  blocks: unknown[];
  hash: string;
}

/**
 * The message that stands for a ticket in its channel: what an agent needs to decide, and the buttons to act.
 * `link` is the ticket's address for people; the hash tells whether Slack already shows this.
 */
export function renderCard(card: TicketCard, link: string): RenderedCard {
  const reporter = [card.reporterName || card.reporterAddress || 'unknown', card.reporterAddress && card.reporterName ? `(${card.reporterAddress})` : '']
    .filter(Boolean).join(' ');
  const fields = [
    `*Reporter*\n${escapeMrkdwn(reporter)} via ${CHANNEL_NAMES[card.channel] ?? card.channel}`,
    `*Status*\n${escapeMrkdwn(STAFF_STATUS[card.status] ?? card.status)}`,
    `*Priority*\n${PRIORITY_EMOJI[card.priority] ?? ''} ${card.priority}`,
    `*Assignee*\n${card.assigneeName ? escapeMrkdwn(card.assigneeName) : '_nobody yet_'}`,
    `*Deadline*\n${card.deadline ? `<!date^${Math.floor(Date.parse(card.deadline) / 1000)}^{date_short_pretty} {time}|${card.deadline}>` : '—'}`,
    `*Object*\n${card.objectName ? escapeMrkdwn(card.objectName) : '—'}`,
  ];
  const where = [card.categoryName && `Category: ${escapeMrkdwn(card.categoryName)}`, card.serviceName && `Service: ${escapeMrkdwn(card.serviceName)}`].filter(Boolean);
  const closed = card.status === 'closed';
  const buttons: unknown[] = [];
  if (!closed) {
    if (!card.assigneeName || card.status === 'new') buttons.push(button('Take', ACTIONS.take, card.number, 'primary'));
    buttons.push({
      type: 'static_select',
      action_id: ACTIONS.priority,
      placeholder: { type: 'plain_text', text: 'Priority' },
      initial_option: option(card.priority),
      options: PRIORITIES.map(option),
    });
    if (card.status !== 'resolved') buttons.push(button('Resolve', ACTIONS.resolve, card.number));
    buttons.push(button('Close', ACTIONS.close, card.number, 'danger'));
  }
  const blocks: unknown[] = [
    { type: 'section', text: { type: 'mrkdwn', text: `*<${link}|#${card.number}>* ${escapeMrkdwn(card.subject)}` } },
    { type: 'section', fields: fields.map((text) => ({ type: 'mrkdwn', text })) },
    ...(where.length > 0 ? [{ type: 'context', elements: [{ type: 'mrkdwn', text: where.join(' · ') }] }] : []),
    ...(buttons.length > 0 ? [{ type: 'actions', block_id: `ticket_${card.number}`, elements: buttons }] : []),
  ];
  const text = `#${card.number} ${card.subject} (${STAFF_STATUS[card.status] ?? card.status}, ${card.priority})`;
  const hash = createHash('sha256').update(JSON.stringify([text, blocks])).digest('hex');
  return { text, blocks, hash };
}

function button(text: string, actionId: string, number: number, style?: 'primary' | 'danger'): unknown {
  return { type: 'button', action_id: actionId, text: { type: 'plain_text', text }, value: String(number), ...(style ? { style } : {}) };
}

function option(priority: string): unknown {
  return { text: { type: 'plain_text', text: `${priority[0]!.toUpperCase()}${priority.slice(1)}` }, value: priority };
}

/** Slack's limit for a message's text is 40 000 characters; longer bodies are cut with a pointer to the ticket. */
export function threadText(header: string, body: string, link: string): string {
  const max = 39_000;
  const escaped = escapeMrkdwn(body);
  const cut = escaped.length > max ? `${escaped.slice(0, max)}…\n_(cut; the whole message is on <${link}|the ticket>)_` : escaped;
  return `${header}\n${cut}`;
}
