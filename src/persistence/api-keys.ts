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

type Authenticated = Actor & { keyId: string; name: string };

/**
 * Keys recently found valid, by hash, shared by everything in this process. A revocation evicts its key at
 * once here and, through the `onRevoke` broadcast, in the other processes; a process that missed the
 * broadcast stops accepting the key within CACHE_TTL_MS.
 */
const CACHE_TTL_MS = 10_000;
const valid = new Map<string, { actor: Authenticated; expires: number }>();

/** Forgets a revoked key in this process. */
export function forgetApiKey(keyId: string): void {
  for (const [hash, entry] of valid) if (entry.actor.keyId === keyId) valid.delete(hash);
}

export interface CreatedApiKey { id: string; key: string; prefix: string; userId: string; organizationId: string; name: string }

/** API keys: made here, shown once, kept only as a SHA-256 hash. */
export class ApiKeys {
  /** `onRevoke` tells other processes (the runtime publishes on Redis). */
  constructor(private readonly orm: MikroORM, private readonly onRevoke?: (keyId: string) => Promise<void>) {}

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
    const byId = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(idOrPrefix);
    const row = await withSql(this.orm, async (sql) => {
      const matches = await sql.rows<{ id: string }>(`SELECT id FROM api_keys WHERE ${byId ? 'id = $1::uuid' : 'prefix = $1'}`, [idOrPrefix]);
      if (matches.length === 0) throw new DomainError('not_found', `No API key with id or prefix ${idOrPrefix}.`);
      if (matches.length > 1) throw new DomainError('conflict', `Several keys start with ${idOrPrefix}; revoke by id.`);
      return sql.one<{ id: string; revoked_at: Date }>(
        'UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING id, revoked_at', [matches[0]!.id]);
    });
    forgetApiKey(row!.id);
    await this.onRevoke?.(row!.id).catch(() => undefined);
    return { id: row!.id, revokedAt: iso(row!.revoked_at) };
  }

  /** The user a key belongs to; throws `unauthenticated` for an unknown or revoked key. */
  async authenticate(key: string): Promise<Authenticated> {
    const hash = hashKey(key);
    const cached = valid.get(hash);
    if (cached && cached.expires > Date.now()) return cached.actor;
    const actor = await this.lookup(hash);
    if (valid.size > 10_000) valid.clear();
    valid.set(hash, { actor, expires: Date.now() + CACHE_TTL_MS });
    return actor;
  }

  private lookup(hash: string): Promise<Authenticated> {
    return withSql(this.orm, async (sql) => {
      const row = await sql.one<{ id: string; revoked_at: Date | null; user_id: string; organization_id: string; role: Role; name: string }>(
        `SELECT k.id, k.revoked_at, u.id AS user_id, u.organization_id, u.role, u.name
           FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.token_hash = $1`,
        [hash],
      );
      if (!row) throw new DomainError('unauthenticated', 'Unknown API key. Check the Authorization header: `Bearer <key>`.');
      if (row.revoked_at) throw new DomainError('unauthenticated', 'This API key was revoked. Ask an admin for a new one.');
      // Knowing when a key was last used helps revoking stale ones; more than one write a minute does not pay.
      await sql.rows(`UPDATE api_keys SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`, [row.id]);
      return { keyId: row.id, userId: row.user_id, organizationId: row.organization_id, role: row.role, name: row.name };
    });
  }
}
