import { createHash } from 'node:crypto';
import { PRIORITIES, type Locale } from '../../core/vocabulary.ts';
import type { TicketCard } from '../../persistence/slack-store.ts';
import { cutText } from '../../core/text.ts';
import { channelName, priorityName, slackText, staffStatus } from './texts.ts';

/** The buttons' action ids, shared by the card and the handlers. */
export const ACTIONS = { take: 'ticket_take', priority: 'ticket_priority', resolve: 'ticket_resolve', close: 'ticket_close' } as const;

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
 * `link` is the ticket's address for people; the hash tells whether Slack already shows this (in this language).
 */
export function renderCard(card: TicketCard, link: string, locale: Locale): RenderedCard {
  const t = (key: Parameters<typeof slackText>[0], vars?: Record<string, string | number>) => slackText(key, locale, vars);
  const reporter = [card.reporterName || card.reporterAddress || t('unknownReporter'), card.reporterAddress && card.reporterName ? `(${card.reporterAddress})` : '']
    .filter(Boolean).join(' ');
  const status = staffStatus(card.status, locale);
  const priority = priorityName(card.priority, locale);
  const fields = [
    `*${t('reporter')}*\n${t('via', { reporter: escapeMrkdwn(reporter), channel: channelName(card.channel, locale) })}`,
    `*${t('status')}*\n${escapeMrkdwn(status)}`,
    `*${t('priority')}*\n${PRIORITY_EMOJI[card.priority] ?? ''} ${priority}`,
    `*${t('assignee')}*\n${card.assigneeName ? escapeMrkdwn(card.assigneeName) : t('nobody')}`,
    `*${t('deadline')}*\n${card.deadline ? `<!date^${Math.floor(Date.parse(card.deadline) / 1000)}^{date_short_pretty} {time}|${card.deadline}>` : '—'}`,
    `*${t('object')}*\n${card.objectName ? escapeMrkdwn(card.objectName) : '—'}`,
  ];
  const where = [card.categoryName && `${t('category')}: ${escapeMrkdwn(card.categoryName)}`, card.serviceName && `${t('service')}: ${escapeMrkdwn(card.serviceName)}`].filter(Boolean);
  const closed = card.status === 'closed';
  const buttons: unknown[] = [];
  if (!closed) {
    if (!card.assigneeName || card.status === 'new') buttons.push(button(t('take'), ACTIONS.take, card.number, 'primary'));
    buttons.push({
      type: 'static_select',
      action_id: ACTIONS.priority,
      placeholder: { type: 'plain_text', text: t('priority') },
      initial_option: priorityOption(card.priority, locale),
      options: PRIORITIES.map((p) => priorityOption(p, locale)),
    });
    if (card.status !== 'resolved') buttons.push(button(t('resolve'), ACTIONS.resolve, card.number));
    buttons.push(button(t('close'), ACTIONS.close, card.number, 'danger'));
  }
  const blocks: unknown[] = [
    { type: 'section', text: { type: 'mrkdwn', text: `*<${link}|#${card.number}>* ${escapeMrkdwn(card.subject)}` } },
    { type: 'section', fields: fields.map((text) => ({ type: 'mrkdwn', text })) },
    ...(where.length > 0 ? [{ type: 'context', elements: [{ type: 'mrkdwn', text: where.join(' · ') }] }] : []),
    ...(buttons.length > 0 ? [{ type: 'actions', block_id: `ticket_${card.number}`, elements: buttons }] : []),
  ];
  // The text is what notifications and screen readers show: escaped like the blocks, or a subject could ping @channel.
  const text = t('summary', { number: card.number, subject: escapeMrkdwn(card.subject), status, priority });
  const hash = createHash('sha256').update(JSON.stringify([text, blocks])).digest('hex');
  return { text, blocks, hash };
}

function button(text: string, actionId: string, number: number, style?: 'primary' | 'danger'): unknown {
  return { type: 'button', action_id: actionId, text: { type: 'plain_text', text }, value: String(number), ...(style ? { style } : {}) };
}

/** A priority as a select option: its name in the workspace's language, its value the one the core knows. */
export function priorityOption(priority: string, locale: Locale): unknown {
  return { text: { type: 'plain_text', text: priorityName(priority, locale) }, value: priority };
}

/** Slack's limit for a message's text is 40 000 characters; longer bodies are cut with a pointer to the ticket. */
export function threadText(header: string, body: string, link: string, locale: Locale): string {
  const max = 39_000;
  const escaped = escapeMrkdwn(body);
  // Cut between characters (half an emoji cannot be sent) and outside an entity like &amp;.
  const cut = escaped.length > max ? `${cutText(escaped, max).replace(/&[a-z]*$/, '')}…\n${slackText('cut', locale, { link })}` : escaped;
  return `${header}\n${cut}`;
}
