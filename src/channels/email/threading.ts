/*
 * Which ticket a mail belongs to, decided in a fixed order, with the rule that matched kept on the message.
 * Only references we made or received ourselves (Message-IDs, signed reply addresses) name a ticket by
 * themselves; a ticket tag in the subject counts only for the ticket's own reporter, and no rule lets someone
 * who is not the ticket's reporter write into it: their mail opens a new ticket that points at the old one.
 */

export type ThreadRule = 'references' | 'reply-address' | 'subject-tag' | 'new';

export interface ThreadedTicket {
  number: number;
  status: string;
  reporterId: string;
  /** When the ticket was last closed, if it is closed. */
  closedAt: Date | null;
}

export interface ThreadLookup {
  byMessageIds(ids: readonly string[]): Promise<ThreadedTicket | null>;
  byNumber(number: number): Promise<ThreadedTicket | null>;
  /** The reporter the sender's address belongs to, if we know them. */
  senderReporterId(): Promise<string | null>;
}

export interface ThreadInput {
  referenced: readonly string[];
  /** Ticket number from a signed reply address, if any. */
  replyAddressTicket: number | null;
  subject: string;
  reopenWindowMs: number;
  now: Date;
}

export interface ThreadDecision {
  rule: ThreadRule;
  /** The ticket to add the mail to; absent for a new ticket. */
  ticketNumber?: number;
  /** For a new ticket: the earlier ticket it continues. */
  followUpOf?: number;
  /** Why a matching ticket was not used, for the admin reading the log. */
  note?: string;
}

export async function threadMail(input: ThreadInput, lookup: ThreadLookup): Promise<ThreadDecision> {
  const found = await firstMatch(input, lookup);
  if (!found) return { rule: 'new' };
  const { rule, ticket } = found;
  const sender = await lookup.senderReporterId();
  if (sender !== ticket.reporterId) {
    if (rule === 'subject-tag') return { rule: 'new', note: `subject names #${ticket.number}, but the sender is not its reporter` };
    return { rule: 'new', followUpOf: ticket.number, note: `${rule} matched #${ticket.number}, but the sender is not its reporter` };
  }
  if (ticket.status === 'closed' && ticket.closedAt && input.now.getTime() - ticket.closedAt.getTime() > input.reopenWindowMs) {
    return { rule, followUpOf: ticket.number, note: `#${ticket.number} was closed longer than the reopen window` };
  }
  return { rule, ticketNumber: ticket.number };
}

async function firstMatch(input: ThreadInput, lookup: ThreadLookup): Promise<{ rule: ThreadRule; ticket: ThreadedTicket } | null> {
  if (input.referenced.length > 0) {
    const t = await lookup.byMessageIds(input.referenced);
    if (t) return { rule: 'references', ticket: t };
  }
  if (input.replyAddressTicket !== null) {
    const t = await lookup.byNumber(input.replyAddressTicket);
    if (t) return { rule: 'reply-address', ticket: t };
  }
  const tag = subjectTicketNumber(input.subject);
  if (tag !== null) {
    const t = await lookup.byNumber(tag);
    if (t) return { rule: 'subject-tag', ticket: t };
  }
  return null;
}

/** The number in a `[#1042]` tag of a subject ("Re: [#1042] Printer"), or null. */
export function subjectTicketNumber(subject: string): number | null {
  const m = /\[#(\d{1,9})\]/.exec(subject);
  return m ? Number(m[1]) : null;
}

/** A subject without reply/forward prefixes and our ticket tag, to title a new ticket. */
export function cleanSubject(subject: string): string {
  let s = subject;
  for (;;) {
    const next = s.replace(/^\s*((re|fw|fwd|aw|wg|antw|ответ|отв|пересл|sv|vs)\s*(\[\d+\])?\s*:\s*)/i, '').replace(/^\s*\[#\d{1,9}\]\s*/, '');
    if (next === s) return s.trim();
    s = next;
  }
}
