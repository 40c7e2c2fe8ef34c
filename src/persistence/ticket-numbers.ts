import type { Sql } from './sql.ts';
import { PG, pgCode } from './sql.ts';

/**
 * Ticket numbers come from one Postgres sequence per organization. A counter row would serialize every
 * intake of an organization on its lock (each waiting for the previous commit to reach the disk); a sequence
 * hands out numbers without locks. A number taken by an intake that then fails is skipped: numbers are
 * unique and increasing, not gapless.
 */
export function ticketNumberSequence(organizationId: string): string {
  return `tn_${organizationId.replace(/-/g, '').toLowerCase()}`;
}

/** The first number an organization hands out. */
export const FIRST_TICKET_NUMBER = 1001;

/** Creates the organization's sequence if it is missing, continuing after its highest ticket number. */
export async function ensureTicketNumberSequence(sql: Sql, organizationId: string): Promise<void> {
  const name = ticketNumberSequence(organizationId);
  if (!/^tn_[0-9a-f]{32}$/.test(name)) throw new Error(`Not an organization id: ${organizationId}`);
  const row = await sql.one<{ next: string }>(
    'SELECT coalesce(max(number) + 1, $2) AS next FROM tickets WHERE organization_id = $1',
    [organizationId, FIRST_TICKET_NUMBER],
  );
  try {
    await sql.rows(`CREATE SEQUENCE IF NOT EXISTS "${name}" START WITH ${Number(row?.next ?? FIRST_TICKET_NUMBER)}`);
  } catch (err) {
    // Two first tickets of a new organization raced to create it: the other one did.
    if (pgCode(err) !== PG.uniqueViolation) throw err;
  }
}

/** True when `err` says the organization's sequence does not exist yet. */
export function isMissingSequence(err: unknown): boolean {
  return pgCode(err) === '42P01' && /"tn_[0-9a-f]{32}"/.test(String((err as Error).message));
}
