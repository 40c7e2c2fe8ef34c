import { PRIORITIES, type Priority } from '../../core/vocabulary.ts';

export const NEW_TICKET_CALLBACK = 'ticket_new';

/** The `/ticket new` form: a ticket on someone's behalf (the reporter hears back by email). */
export function newTicketModal(subject = ''): unknown {
  const input = (blockId: string, label: string, element: Record<string, unknown>, optional = false) => ({
    type: 'input', block_id: blockId, optional, label: { type: 'plain_text', text: label }, element: { action_id: 'value', ...element },
  });
  return {
    type: 'modal',
    callback_id: NEW_TICKET_CALLBACK,
    title: { type: 'plain_text', text: 'New ticket' },
    submit: { type: 'plain_text', text: 'Create' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      input('reporter', "Reporter's email", { type: 'email_text_input', placeholder: { type: 'plain_text', text: 'name@example.com' } }),
      input('reporter_name', "Reporter's name", { type: 'plain_text_input' }, true),
      input('subject', 'Subject', { type: 'plain_text_input', max_length: 300, ...(subject ? { initial_value: subject.slice(0, 300) } : {}) }),
      input('description', 'What happened', { type: 'plain_text_input', multiline: true, max_length: 3000 }),
      input('priority', 'Priority', {
        type: 'static_select',
        initial_option: { text: { type: 'plain_text', text: 'Normal' }, value: 'normal' },
        options: PRIORITIES.map((p) => ({ text: { type: 'plain_text', text: `${p[0]!.toUpperCase()}${p.slice(1)}` }, value: p })),
      }),
    ],
  };
}

type Values = Record<string, Record<string, { value?: string | null; selected_option?: { value: string } | null }>>;

export interface NewTicket { reporterEmail: string; reporterName: string; subject: string; description: string; priority: Priority }

/** What the form says, or the errors to show next to its fields (Slack keeps the modal open with them). */
export function readNewTicket(values: Values): NewTicket | { errors: Record<string, string> } {
  const get = (block: string) => (values[block]?.value?.value ?? '').trim();
  const reporterEmail = get('reporter');
  const subject = get('subject');
  const description = get('description');
  const priority = (values.priority?.value?.selected_option?.value ?? 'normal') as Priority;
  const errors: Record<string, string> = {};
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(reporterEmail)) errors.reporter = 'An email address we can answer the reporter at, like name@example.com.';
  if (!subject) errors.subject = 'A few words that say what it is about.';
  if (!description) errors.description = 'Describe the problem; the reporter will see this.';
  if (!PRIORITIES.includes(priority)) errors.priority = `One of ${PRIORITIES.join(', ')}.`;
  if (Object.keys(errors).length > 0) return { errors };
  return { reporterEmail, reporterName: get('reporter_name'), subject, description, priority };
}
