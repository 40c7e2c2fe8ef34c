import { createHash, randomBytes } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { v7 as uuidv7 } from 'uuid';
import { DomainError } from '../core/errors.ts';
import { normalizeAddress, type IdentityKind } from '../core/vocabulary.ts';
import { inTransaction, withSql, type Sql } from './sql.ts';

const hash = (code: string) => createHash('sha256').update(code).digest('hex');

/**
 * One-time codes that link an identity on another channel to an existing reporter (a chat to the person
 * who wrote by mail, for example). Redeeming one merges the reporter the identity had into the code's one:
 * their tickets, messages and identities move, and one person stays one reporter.
 */
export class ReporterLinks {
  constructor(private readonly orm: MikroORM) {}

  /** A new code for the reporter behind an identity; null when nobody has that identity. */
  async createFor(organizationId: string, who: { kind: IdentityKind; address: string }, ttlMs: number): Promise<string | null> {
    const code = randomBytes(12).toString('base64url');
    const rows = await withSql(this.orm, (sql) => sql.rows(
      `INSERT INTO reporter_link_codes (id, organization_id, reporter_id, code_hash, expires_at)
       SELECT $1, $2, i.reporter_id, $3, now() + ($4::double precision * interval '1 millisecond')
         FROM reporter_identities i WHERE i.organization_id = $2 AND i.kind = $5 AND i.address = $6
       RETURNING id`,
      [uuidv7(), organizationId, hash(code), ttlMs, who.kind, normalizeAddress(who.kind, who.address)]));
    return rows.length ? code : null;
  }

  /** Links the identity to the code's reporter. Fails with a message for the person when the code is not valid. */
  redeem(organizationId: string, code: string, who: { kind: IdentityKind; address: string; name?: string }): Promise<{ reporterId: string; merged: boolean }> {
    const address = normalizeAddress(who.kind, who.address);
    return inTransaction(this.orm, async (sql) => {
      const link = await sql.one<{ id: string; reporter_id: string; expired: boolean; used: boolean }>(
        `SELECT id, reporter_id, expires_at < now() AS expired, used_at IS NOT NULL AS used
           FROM reporter_link_codes WHERE organization_id = $1 AND code_hash = $2 FOR UPDATE`,
        [organizationId, hash(code)]);
      if (!link) throw new DomainError('not_found', 'This link code is not known.');
      if (link.used) throw new DomainError('conflict', 'This link code was used already.');
      if (link.expired) throw new DomainError('invalid', 'This link code has expired.');
      await sql.rows('UPDATE reporter_link_codes SET used_at = now() WHERE id = $1', [link.id]);
      const target = link.reporter_id;
      const current = await sql.one<{ reporter_id: string }>(
        'SELECT reporter_id FROM reporter_identities WHERE organization_id = $1 AND kind = $2 AND address = $3 FOR UPDATE',
        [organizationId, who.kind, address]);
      if (!current) {
        await sql.rows('INSERT INTO reporter_identities (id, organization_id, reporter_id, kind, address) VALUES ($1, $2, $3, $4, $5)',
          [uuidv7(), organizationId, target, who.kind, address]);
        return { reporterId: target, merged: false };
      }
      if (current.reporter_id === target) return { reporterId: target, merged: false };
      await mergeReporter(sql, organizationId, current.reporter_id, target);
      return { reporterId: target, merged: true };
    });
  }
}

/** Moves everything of reporter `from` to reporter `into` and removes `from`. */
async function mergeReporter(sql: Sql, organizationId: string, from: string, into: string): Promise<void> {
  // Locked first: an intake write that still names `from` waits, then fails on the missing row and is retried.
  await sql.rows('SELECT id FROM reporters WHERE id IN ($1, $2) AND organization_id = $3 ORDER BY id FOR UPDATE', [from, into, organizationId]);
  const params = [from, into, organizationId];
  await sql.rows('UPDATE reporter_identities SET reporter_id = $2 WHERE reporter_id = $1 AND organization_id = $3', params);
  await sql.rows('UPDATE tickets SET reporter_id = $2 WHERE reporter_id = $1 AND organization_id = $3', params);
  await sql.rows('UPDATE messages SET author_reporter_id = $2 WHERE author_reporter_id = $1 AND organization_id = $3', params);
  await sql.rows('UPDATE ticket_events SET actor_reporter_id = $2 WHERE actor_reporter_id = $1 AND organization_id = $3', params);
  await sql.rows('UPDATE notifications SET recipient_reporter_id = $2 WHERE recipient_reporter_id = $1 AND organization_id = $3', params);
  await sql.rows('UPDATE reporter_link_codes SET reporter_id = $2 WHERE reporter_id = $1 AND organization_id = $3', params);
  // An account stays with the person: the merged reporter takes it when it had none.
  const user = await sql.one<{ user_id: string | null }>('SELECT user_id FROM reporters WHERE id = $1', [from]);
  await sql.rows('DELETE FROM reporters WHERE id = $1 AND organization_id = $2', [from, organizationId]);
  if (user?.user_id) await sql.rows('UPDATE reporters SET user_id = coalesce(user_id, $2) WHERE id = $1', [into, user.user_id]);
}
