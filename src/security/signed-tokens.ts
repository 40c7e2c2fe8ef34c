import { createHmac, timingSafeEqual } from 'node:crypto';

/** Short HMAC signatures of values the app hands out (ticket links, reply addresses) and later trusts. */
export class Signer {
  constructor(private readonly secret: string) {}

  sign(purpose: string, value: string, length = 32): string {
    return createHmac('sha256', this.secret).update(`${purpose}\n${value}`).digest('hex').slice(0, length);
  }

  /** True when `signature` is the signature of exactly `length` characters that `sign` makes. */
  verify(purpose: string, value: string, signature: string, length = 32): boolean {
    if (signature.length !== length) return false;
    const expected = Buffer.from(this.sign(purpose, value, length));
    const given = Buffer.from(signature.toLowerCase());
    return expected.length === given.length && timingSafeEqual(expected, given);
  }
}

/**
 * A link to a ticket's page for its reporter, who has no account: organization, number, the reporter it was
 * sent to, and expiry, signed. The portal checks it with `verifyTicketLink`, and that the ticket is still that
 * reporter's, so a link forwarded to (or meant for) someone else opens nothing more.
 */
export function ticketLink(signer: Signer, publicUrl: string, ticket: { organizationId: string; number: number; reporterId: string }, expiresAt: Date): string {
  const exp = Math.floor(expiresAt.getTime() / 1000);
  const sig = signer.sign('ticket-link', `${ticket.organizationId}:${ticket.number}:${ticket.reporterId}:${exp}`);
  return `${publicUrl}/portal/tickets/${ticket.number}?org=${ticket.organizationId}&r=${ticket.reporterId}&exp=${exp}&sig=${sig}`;
}

export function verifyTicketLink(signer: Signer, q: { org: string; number: number; reporter: string; exp: number; sig: string }, now = new Date()): 'valid' | 'expired' | 'invalid' {
  if (!signer.verify('ticket-link', `${q.org}:${q.number}:${q.reporter}:${q.exp}`, q.sig)) return 'invalid';
  return q.exp * 1000 < now.getTime() ? 'expired' : 'valid';
}
