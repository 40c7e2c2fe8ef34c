import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate, openDatabase } from '../../src/persistence/database.ts';

/** The Postgres server the tests use (trust auth); TEST_PG_URL overrides. */
export const PG_ADMIN_URL = process.env.TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

export function databaseUrl(name: string, base = PG_ADMIN_URL): string {
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

export interface TestDatabase { name: string; url: string; drop(): Promise<void> }

/**
 * A fresh database of its own for one test file, optionally migrated; on the server at `adminUrl` (a
 * superuser's connection string, default PG_ADMIN_URL).
 */
export async function createTestDatabase(opts: { migrated?: boolean; adminUrl?: string } = {}): Promise<TestDatabase> {
  const adminUrl = opts.adminUrl ?? PG_ADMIN_URL;
  const name = `hd_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`, [], adminUrl);
  const url = databaseUrl(name, adminUrl);
  if (opts.migrated !== false) {
    const orm = await openDatabase(url, 2);
    try {
      await migrate(orm);
    } finally {
      await orm.close();
    }
  }
  return { name, url, drop: async () => { await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`, [], adminUrl); } };
}

export async function adminQuery(sql: string, params: unknown[] = [], adminUrl = PG_ADMIN_URL): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

/** Runs one query against a test database. */
export async function query<T extends pg.QueryResultRow = Record<string, unknown>>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}
