import type { MikroORM } from '@mikro-orm/postgresql';
import { v7 as uuidv7 } from 'uuid';
import { DomainError } from '../core/errors.ts';
import { normalizeAddress, type IdentityKind } from '../core/vocabulary.ts';
import { inTransaction, type Sql } from './sql.ts';

/**
 * "I have the same problem": a visitor follows an open ticket about an object instead of opening another one.
 * The follower is a reporter (found or made from their identity) and hears what the ticket's reporter hears.
 */
export class Followers {
  constructor(private readonly orm: MikroORM) {}

  follow(organizationId: string, objectId: string, number: number, who: { kind: IdentityKind; address: string; locale?: string }): Promise<'following' | 'already'> {
    return inTransaction(this.orm, async (sql) => {
      const t = await sql.one<{ id: string; reporter_id: string }>(
        `SELECT id, reporter_id FROM tickets WHERE organization_id = $1 AND object_id = $2 AND number = $3 AND status NOT IN ('resolved', 'closed')`,
        [organizationId, objectId, number]);
      if (!t) throw new DomainError('not_found', `No open request #${number} about this object.`);
      const reporterId = await reporterFor(sql, organizationId, who);
      if (reporterId === t.reporter_id) return 'already';
      const rows = await sql.rows(
        `WITH f AS (
           INSERT INTO ticket_followers (id, organization_id, ticket_id, reporter_id) VALUES ($1, $2, $3, $4)
           ON CONFLICT (ticket_id, reporter_id) DO NOTHING RETURNING id)
         INSERT INTO ticket_events (id, organization_id, ticket_id, actor_reporter_id, channel, kind, changes)
         SELECT gen_random_uuid(), $2, $3, $4, 'qr', 'followed', '{}'::jsonb FROM f RETURNING id`,
        [uuidv7(), organizationId, t.id, reporterId]);
      return rows.length ? 'following' : 'already';
    });
  }
}

/** The reporter behind an identity, made on first contact (one statement; concurrent first contacts converge). */
async function reporterFor(sql: Sql, organizationId: string, who: { kind: IdentityKind; address: string; locale?: string }): Promise<string> {
  const address = normalizeAddress(who.kind, who.address);
  for (let attempt = 0; attempt < 3; attempt++) {
    const row = await sql.one<{ reporter_id: string | null }>(
      `WITH known AS (SELECT reporter_id FROM reporter_identities WHERE organization_id = $1 AND kind = $2 AND address = $3),
       identity AS (
         INSERT INTO reporter_identities (id, organization_id, reporter_id, kind, address)
         SELECT $4, $1, $5, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM known)
         ON CONFLICT (organization_id, kind, address) DO NOTHING RETURNING reporter_id),
       reporter AS (
         INSERT INTO reporters (id, organization_id, name, locale) SELECT $5, $1, '', $6 FROM identity RETURNING id)
       SELECT (SELECT reporter_id FROM known UNION ALL SELECT reporter_id FROM identity LIMIT 1) AS reporter_id`,
      [organizationId, who.kind, address, uuidv7(), uuidv7(), who.locale ?? null]);
    if (row?.reporter_id) return row.reporter_id;
  }
  throw new Error(`Could not find or make the reporter for ${who.kind} ${address}; try again.`);
}
