import { createHash, randomBytes } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { v7 as uuidv7 } from 'uuid';
import { DomainError } from '../core/errors.ts';
import type { Actor } from '../core/ports.ts';
import type { Role } from '../core/vocabulary.ts';
import { iso, withSql } from './sql.ts';

const KEY_PREFIX = 'hd_';

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export interface CreatedApiKey { id: string; key: string; prefix: string; userId: string; organizationId: string; name: string }

/** API keys: made here, shown once, kept only as a SHA-256 hash. */
export class ApiKeys {
  private readonly lastTouched = new Map<string, number>();

  constructor(private readonly orm: MikroORM) {}

  async create(userId: string, name = ''): Promise<CreatedApiKey> {
    const key = KEY_PREFIX + randomBytes(24).toString('base64url');
    const prefix = key.slice(0, 10);
    const id = uuidv7();
    return withSql(this.orm, async (sql) => {
      const row = await sql.one<{ organization_id: string }>(
        `INSERT INTO api_keys (id, organization_id, user_id, name, prefix, token_hash)
         SELECT $1, organization_id, id, $3, $4, $5 FROM users WHERE id = $2
         RETURNING organization_id`,
        [id, userId, name, prefix, hashKey(key)],
      );
      if (!row) throw new DomainError('not_found', `No user with id ${userId}.`);
      return { id, key, prefix, userId, organizationId: row.organization_id, name };
    });
  }

  async revoke(idOrPrefix: string): Promise<{ id: string; revokedAt: string }> {
    return withSql(this.orm, async (sql) => {
      const byId = /^[0-9a-f-]{36}$/i.test(idOrPrefix);
      const rows = await sql.rows<{ id: string; revoked_at: Date }>(
        `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
          WHERE ${byId ? 'id = $1::uuid' : 'prefix = $1'} RETURNING id, revoked_at`,
        [idOrPrefix],
      );
      if (rows.length === 0) throw new DomainError('not_found', `No API key with id or prefix ${idOrPrefix}.`);
      if (rows.length > 1) throw new DomainError('conflict', `Several keys start with ${idOrPrefix}; revoke by id.`);
      return { id: rows[0]!.id, revokedAt: iso(rows[0]!.revoked_at) };
    });
  }

  /** The user a key belongs to; throws `unauthenticated` for an unknown or revoked key. */
  async authenticate(key: string): Promise<Actor & { keyId: string; name: string }> {
    return withSql(this.orm, async (sql) => {
      const row = await sql.one<{ id: string; revoked_at: Date | null; user_id: string; organization_id: string; role: Role; name: string }>(
        `SELECT k.id, k.revoked_at, u.id AS user_id, u.organization_id, u.role, u.name
           FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.token_hash = $1`,
        [hashKey(key)],
      );
      if (!row) throw new DomainError('unauthenticated', 'Unknown API key. Check the Authorization header: `Bearer <key>`.');
      if (row.revoked_at) throw new DomainError('unauthenticated', 'This API key was revoked. Ask an admin for a new one.');
      const now = Date.now();
      // Knowing when a key was last used helps revoking stale ones; a write per request does not pay for it.
      if ((this.lastTouched.get(row.id) ?? 0) < now - 60_000) {
        this.lastTouched.set(row.id, now);
        await sql.rows('UPDATE api_keys SET last_used_at = now() WHERE id = $1', [row.id]);
      }
      return { keyId: row.id, userId: row.user_id, organizationId: row.organization_id, role: row.role, name: row.name };
    });
  }
}
