import { describe, expect, it } from 'vitest';
import { decide } from '../../src/core/intake.ts';
import type { IntakeEvent } from '../../src/core/intake-event.ts';
import type { Actor, TicketState } from '../../src/core/ports.ts';
import { STATUSES, canTransition, statusAfterReporterReply, type TicketStatus } from '../../src/core/ticket-status.ts';
import { planTicketUpdate, takeTicket } from '../../src/core/ticket-update.ts';
import { subjectFrom } from '../../src/core/subject.ts';
import { routeNotification } from '../../src/core/notifications.ts';
import { DomainError } from '../../src/core/errors.ts';

const ticket = (over: Partial<TicketState> = {}): TicketState => ({
  id: 't1', organizationId: 'o1', number: 1042, status: 'open', priority: 'normal', deadline: null,
  categoryId: null, assigneeId: null, reporterId: 'r1', channel: 'email', ...over,
});
const agent: Actor = { userId: 'u1', organizationId: 'o1', role: 'agent' };
const customer: Actor = { userId: 'u2', organizationId: 'o1', role: 'customer' };

function kindOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof DomainError ? err.kind : 'other';
  }
}

describe('status transitions', () => {
  const allowed: Array<[TicketStatus, TicketStatus]> = [
    ['new', 'open'], ['new', 'closed'], ['open', 'in_progress'], ['in_progress', 'waiting'], ['waiting', 'open'],
    ['resolved', 'closed'], ['resolved', 'open'], ['closed', 'open'],
  ];
  const refused: Array<[TicketStatus, TicketStatus]> = [
    ['open', 'new'], ['closed', 'resolved'], ['closed', 'in_progress'], ['resolved', 'waiting'], ['open', 'open'],
  ];
  it.each(allowed)('%s -> %s is allowed', (from, to) => expect(canTransition(from, to)).toBe(true));
  it.each(refused)('%s -> %s is refused', (from, to) => expect(canTransition(from, to)).toBe(false));
  it('nothing leads back to new', () => {
    for (const from of STATUSES) expect(canTransition(from, 'new')).toBe(false);
  });
  it('a reporter reply reopens waiting, resolved and closed tickets only', () => {
    expect(statusAfterReporterReply('waiting')).toBe('open');
    expect(statusAfterReporterReply('resolved')).toBe('open');
    expect(statusAfterReporterReply('closed')).toBe('open');
    expect(statusAfterReporterReply('in_progress')).toBe('in_progress');
    expect(statusAfterReporterReply('new')).toBe('new');
  });
});

describe('planTicketUpdate', () => {
  it('records before and after of each changed field, and tells the reporter about a status change', () => {
    const plan = planTicketUpdate(ticket(), { status: 'resolved', priority: 'high' }, agent);
    expect(plan.changes).toEqual({ status: { from: 'open', to: 'resolved' }, priority: { from: 'normal', to: 'high' } });
    expect(plan.notifications).toHaveLength(1);
    expect(plan.notifications[0]).toMatchObject({ kind: 'status_changed', recipient: { reporterId: 'r1' }, preferredKind: 'email' });
  });
  it('leaves unchanged fields out, including the same deadline written differently', () => {
    const plan = planTicketUpdate(ticket({ deadline: '2026-12-01T10:00:00.000Z' }), { deadline: '2026-12-01T12:00:00+02:00', priority: 'normal' }, agent);
    expect(plan.changes).toEqual({});
  });
  it('refuses a transition the workflow does not allow, naming the allowed ones', () => {
    try {
      planTicketUpdate(ticket({ status: 'closed' }), { status: 'resolved' }, agent);
      expect.unreachable();
    } catch (err) {
      expect((err as DomainError).kind).toBe('conflict');
      expect((err as DomainError).message).toContain('allowed: open');
    }
  });
  it('refuses a priority or status that does not exist, whatever edge passed it', () => {
    expect(kindOf(() => planTicketUpdate(ticket(), { priority: 'critical' as never }, agent))).toBe('invalid');
    expect(kindOf(() => planTicketUpdate(ticket(), { status: 'done' as never }, agent))).toBe('invalid');
  });
  it('refuses setting a ticket back to new', () => {
    expect(kindOf(() => planTicketUpdate(ticket(), { status: 'new' }, agent))).toBe('conflict');
  });
  it('lets a customer close or reopen, nothing else', () => {
    expect(kindOf(() => planTicketUpdate(ticket(), { status: 'closed' }, customer))).toBeUndefined();
    expect(kindOf(() => planTicketUpdate(ticket({ status: 'closed' }), { status: 'open' }, customer))).toBeUndefined();
    expect(kindOf(() => planTicketUpdate(ticket(), { status: 'in_progress' }, customer))).toBe('forbidden');
    expect(kindOf(() => planTicketUpdate(ticket(), { priority: 'urgent' }, customer))).toBe('forbidden');
    expect(kindOf(() => planTicketUpdate(ticket(), { assigneeId: 'u1' }, customer))).toBe('forbidden');
  });
});

describe('takeTicket', () => {
  it('makes the actor the assignee of a free ticket, and opens a new one', () => {
    expect(takeTicket(ticket({ status: 'new' }), agent)).toEqual({ assigneeId: 'u1', status: 'open' });
    expect(takeTicket(ticket({ status: 'waiting' }), agent)).toEqual({ assigneeId: 'u1' });
    expect(takeTicket(ticket({ assigneeId: 'u1' }), agent)).toEqual({ assigneeId: 'u1' });
  });
  it("refuses to take a ticket away from someone who has it", () => {
    expect(kindOf(() => takeTicket(ticket({ assigneeId: 'u9' }), agent))).toBe('conflict');
  });
});

describe('intake decisions', () => {
  const event = (over: Partial<IntakeEvent> = {}): IntakeEvent => ({
    organizationId: 'o1', channel: 'email', externalId: 'm1', sender: { kind: 'email', address: 'a@b.c' },
    text: 'hi', visibility: 'public', fields: {}, attachments: [], metadata: {}, receivedAt: new Date().toISOString(), ...over,
  });
  it('acknowledges a new ticket on the channel it came from, but not to an API caller', () => {
    const viaEmail = decide(event(), { reporterId: 'r1', ticket: null, author: null });
    expect(viaEmail.status).toBe('new');
    expect(viaEmail.notifications[0]).toMatchObject({ kind: 'ticket_received', preferredKind: 'email' });
    expect(decide(event({ channel: 'api', sender: { kind: 'api', address: 'u1' } }), { reporterId: 'r1', ticket: null, author: agent }).notifications).toEqual([]);
  });
  it('reopens a resolved ticket when its reporter writes, and tells the assignee', () => {
    const d = decide(event({ ticketNumber: 1042 }), { reporterId: 'r1', ticket: ticket({ status: 'resolved', assigneeId: 'u1' }), author: null });
    expect(d.status).toBe('open');
    expect(d.notifications[0]).toMatchObject({ kind: 'reporter_replied', recipient: { userId: 'u1' } });
  });
  it('refuses a message from someone who is neither the reporter nor staff', () => {
    expect(kindOf(() => decide(event({ ticketNumber: 1042 }), { reporterId: 'stranger', ticket: ticket(), author: null }))).toBe('forbidden');
  });
  it('refuses internal notes from reporters and customers', () => {
    expect(kindOf(() => decide(event({ ticketNumber: 1042, visibility: 'internal' }), { reporterId: 'r1', ticket: ticket(), author: null }))).toBe('forbidden');
    expect(kindOf(() => decide(event({ ticketNumber: 1042, visibility: 'internal' }), { reporterId: 'r1', ticket: ticket(), author: customer }))).toBe('forbidden');
  });
  it('sends a public agent reply back the way the ticket came; an internal note goes nowhere', () => {
    const reply = decide(event({ ticketNumber: 1042 }), { reporterId: 'r9', ticket: ticket({ channel: 'telegram' }), author: agent });
    expect(reply.notifications[0]).toMatchObject({ kind: 'agent_replied', preferredKind: 'telegram', recipient: { reporterId: 'r1' } });
    expect(decide(event({ ticketNumber: 1042, visibility: 'internal' }), { reporterId: 'r9', ticket: ticket(), author: agent }).notifications).toEqual([]);
  });
});

describe('subjectFrom', () => {
  it('uses the subject given, collapsed', () => expect(subjectFrom('  Printer \n jam ', 'x')).toBe('Printer jam'));
  it('falls back to the first non-empty line', () => expect(subjectFrom(undefined, '\n\n  Лифт застрял\nподробности')).toBe('Лифт застрял'));
  it('shortens a long line at a word', () => {
    const s = subjectFrom('', `${'word '.repeat(60)}`);
    expect(s.length).toBeLessThanOrEqual(121);
    expect(s.endsWith('…')).toBe(true);
  });
  it('has something for an empty text', () => expect(subjectFrom(undefined, '   ')).toBe('(no subject)'));
});

describe('routeNotification', () => {
  const addresses = [
    { identityId: 'i1', kind: 'email' as const, address: 'a@b.c', deliverable: true },
    { identityId: 'i2', kind: 'telegram' as const, address: '42', deliverable: true },
    { identityId: 'i3', kind: 'phone' as const, address: '+49', deliverable: true },
  ];
  it('tries the preferred channel first, then the others that have a sender', () => {
    const route = routeNotification(addresses, 'telegram', (k) => k !== 'phone');
    expect(route.map((a) => a.kind)).toEqual(['telegram', 'email']);
  });
  it('skips addresses known to bounce', () => {
    const route = routeNotification([{ ...addresses[0]!, deliverable: false }, addresses[1]!], 'email', () => true);
    expect(route.map((a) => a.kind)).toEqual(['telegram']);
  });
  it('is empty when no sender can reach the recipient', () => {
    expect(routeNotification(addresses, 'email', () => false)).toEqual([]);
  });
});
