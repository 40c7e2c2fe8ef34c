import type { Signer } from '../../security/signed-tokens.ts';

/*
 * Plus-addressed reply addresses that carry the ticket: `support+t.1042.<signature>@example.com`. The
 * signature (HMAC of organization and number) makes the address unguessable, so it can be trusted like the
 * Message-IDs we send. Lower case only: some mail servers fold the local part.
 */
const PURPOSE = 'reply-address';
const SIGNATURE_LENGTH = 12;

export function replyAddress(signer: Signer, mailbox: string, organizationId: string, ticketNumber: number): string {
  const at = mailbox.lastIndexOf('@');
  const local = mailbox.slice(0, at).replace(/\+.*$/, '');
  return `${local}+t.${ticketNumber}.${signer.sign(PURPOSE, `${organizationId}:${ticketNumber}`, SIGNATURE_LENGTH)}@${mailbox.slice(at + 1)}`.toLowerCase();
}

/** The ticket number a recipient address names with a valid signature, or null. */
export function ticketFromAddresses(signer: Signer, organizationId: string, addresses: readonly string[]): number | null {
  for (const address of addresses) {
    const m = /\+t\.(\d{1,9})\.([0-9a-f]+)@/i.exec(address);
    if (!m) continue;
    const number = Number(m[1]);
    if (signer.verify(PURPOSE, `${organizationId}:${number}`, m[2]!, SIGNATURE_LENGTH)) return number;
  }
  return null;
}
