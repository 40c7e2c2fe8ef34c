import { PRIORITIES, type Locale, type Priority } from '../../core/vocabulary.ts';
import { priorityOption } from './card.ts';
import { priorityName, slackText } from './texts.ts';
import { cutText } from '../../core/text.ts';

export const NEW_TICKET_CALLBACK = 'ticket_new';
/** Slack's form enforces these too; a submission made by hand is held to them here. */
const MAX_SUBJECT = 300;
const MAX_DESCRIPTION = 3000;
const MAX_NAME = 200;

/** The `/ticket new` form: a ticket on someone's behalf (the reporter hears back by email). */
export function newTicketModal(locale: Locale, subject = ''): unknown {
  const t = (key: Parameters<typeof slackText>[0]) => slackText(key, locale);
  const input = (blockId: string, label: string, element: Record<string, unknown>, optional = false) => ({
    type: 'input', block_id: blockId, optional, label: { type: 'plain_text', text: label }, element: { action_id: 'value', ...element },
  });
  return {
    type: 'modal',
    callback_id: NEW_TICKET_CALLBACK,
    title: { type: 'plain_text', text: t('modalTitle') },
    submit: { type: 'plain_text', text: t('modalSubmit') },
    close: { type: 'plain_text', text: t('modalCancel') },
    blocks: [
      input('reporter', t('reporterEmail'), { type: 'email_text_input', placeholder: { type: 'plain_text', text: 'name@example.com' } }),
      input('reporter_name', t('reporterName'), { type: 'plain_text_input', max_length: MAX_NAME }, true),
      input('subject', t('subject'), { type: 'plain_text_input', max_length: MAX_SUBJECT, ...(subject ? { initial_value: cutText(subject, MAX_SUBJECT) } : {}) }),
      input('description', t('description'), { type: 'plain_text_input', multiline: true, max_length: MAX_DESCRIPTION }),
      input('priority', t('priority'), {
        type: 'static_select',
        initial_option: priorityOption('normal', locale),
        options: PRIORITIES.map((p) => priorityOption(p, locale)),
      }),
    ],
  };
}

type Values = Record<string, Record<string, { value?: string | null; selected_option?: { value: string } | null }>>;

export interface NewTicket { reporterEmail: string; reporterName: string; subject: string; description: string; priority: Priority }

/** What the form says, or the errors to show next to its fields (Slack keeps the modal open with them). */
export function readNewTicket(values: Values, locale: Locale): NewTicket | { errors: Record<string, string> } {
  const get = (block: string) => (values[block]?.value?.value ?? '').trim();
  const reporterEmail = get('reporter');
  const subject = get('subject');
  const description = get('description');
  const priority = (values.priority?.value?.selected_option?.value ?? 'normal') as Priority;
  const errors: Record<string, string> = {};
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(reporterEmail)) errors.reporter = slackText('badEmail', locale);
  if (!subject) errors.subject = slackText('noSubject', locale);
  else if (subject.length > MAX_SUBJECT) errors.subject = slackText('tooLong', locale, { max: MAX_SUBJECT });
  if (!description) errors.description = slackText('noDescription', locale);
  else if (description.length > MAX_DESCRIPTION) errors.description = slackText('tooLong', locale, { max: MAX_DESCRIPTION });
  if (!PRIORITIES.includes(priority)) errors.priority = slackText('badPriority', locale, { priorities: PRIORITIES.map((p) => priorityName(p, locale)).join(', ') });
  if (get('reporter_name').length > MAX_NAME) errors.reporter_name = slackText('tooLong', locale, { max: MAX_NAME });
  if (Object.keys(errors).length > 0) return { errors };
  return { reporterEmail, reporterName: get('reporter_name'), subject, description, priority };
}
