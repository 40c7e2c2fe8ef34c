import { createHash } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import pgUtils from 'pg/lib/utils.js';

/**
 * Plain parameterized SQL on a connection of MikroORM's own pool. The hot paths (intake, listing) use it:
 * server-side parameters, no unit of work, one round trip per statement. Everything else goes through the
 * EntityManager.
 */
export interface Sql {
  rows<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  one<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T | undefined>;
}

interface PgClient {
  query(config: { text: string; values?: unknown[]; name?: string }): Promise<{ rows: unknown[] }>;
}

interface KnexClient {
  acquireConnection(): Promise<PgClient>;
  releaseConnection(connection: PgClient): Promise<void>;
}

function knexClient(orm: MikroORM): KnexClient {
  return (orm.em.getConnection().getKnex() as unknown as { client: KnexClient }).client;
}

/**
 * Statements with parameters run as named prepared statements, named after their text: Postgres then parses
 * and plans each once per connection instead of on every call, which measured here as a third of its CPU
 * per ticket. Statement texts are constants or built from a bounded set of filters, so the names stay few.
 */
const names = new Map<string, string>();
function statementName(text: string): string {
  let name = names.get(text);
  if (!name) {
    name = `hd_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    if (names.size > 5000) names.clear();
    names.set(text, name);
  }
  return name;
}

/**
 * Databases whose connections all share one session (the embedded PGlite server). It executes protocol
 * messages one by one in arrival order, so the Parse/Bind/Execute of two connections can interleave and
 * bind one statement to another's parameters. There, each statement travels as one simple-protocol message
 * with its parameters written in as literals, the way pg itself would have sent them as text.
 */
const sharedSession = new WeakSet<MikroORM>();
export function markSharedSession(orm: MikroORM): void {
  sharedSession.add(orm);
}

export function inlineParameters(text: string, params: unknown[]): string {
  return text.replace(/\$(\d+)/g, (_, n: string) => {
    const value = pgUtils.prepareValue(params[Number(n) - 1]) as string | Buffer | null;
    if (value === null || value === undefined) return 'NULL';
    return pgUtils.escapeLiteral(Buffer.isBuffer(value) ? `\\x${value.toString('hex')}` : String(value));
  });
}

function run(client: PgClient, text: string, params: unknown[], prepare: boolean) {
  if (params.length === 0) return client.query({ text });
  if (!prepare) return client.query({ text: inlineParameters(text, params) });
  return client.query({ text, values: params, name: statementName(text) });
}

function wrap(client: PgClient, prepare: boolean): Sql {
  return {
    async rows<T>(text: string, params: unknown[] = []) {
      return (await run(client, text, params, prepare)).rows as T[];
    },
    async one<T>(text: string, params: unknown[] = []) {
      return (await run(client, text, params, prepare)).rows[0] as T | undefined;
    },
  };
}

/** Runs `fn` on one pooled connection, each statement committing on its own. */
export async function withSql<T>(orm: MikroORM, fn: (sql: Sql) => Promise<T>): Promise<T> {
  const pool = knexClient(orm);
  const client = await pool.acquireConnection();
  try {
    return await fn(wrap(client, !sharedSession.has(orm)));
  } catch (err) {
    if ((err as { rollbackFailed?: unknown } | null)?.rollbackFailed) {
      (client as unknown as { __knex__disposed?: unknown }).__knex__disposed = err;
    }
    throw err;
  } finally {
    await pool.releaseConnection(client);
  }
}

/** Runs `fn` in one transaction: committed when it returns, rolled back when it throws. */
export async function inTransaction<T>(orm: MikroORM, fn: (sql: Sql) => Promise<T>): Promise<T> {
  return withSql(orm, async (sql) => {
    await sql.rows('BEGIN');
    try {
      const result = await fn(sql);
      await sql.rows('COMMIT');
      return result;
    } catch (err) {
      await sql.rows('ROLLBACK').catch((rollbackFailed: unknown) => {
        // Still in a failed transaction, or broken: knex's pool discards a connection marked disposed.
        throw Object.assign(err as object, { rollbackFailed });
      });
      throw err;
    }
  });
}

/** Postgres error codes worth telling apart. */
export const PG = { uniqueViolation: '23505', foreignKeyViolation: '23503', invalidText: '22P02' } as const;

export function pgCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Timestamps as ISO strings. MikroORM's pool hands timestamptz columns back as text, not Date. */
export function iso(value: unknown): string {
  return (value instanceof Date ? value : new Date(value as string)).toISOString();
}

export function isoOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : iso(value);
}
