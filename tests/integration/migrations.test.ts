import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MikroORM } from '@mikro-orm/postgresql';
import { migrate, openDatabase, pendingMigrations } from '../../src/persistence/database.ts';
import { createTestDatabase, query, type TestDatabase } from '../support/database.ts';

let db: TestDatabase;
let orm: MikroORM;

beforeAll(async () => {
  db = await createTestDatabase({ migrated: false });
  orm = await openDatabase(db.url, 2);
});
afterAll(async () => {
  await orm?.close();
  await db?.drop();
});

const tables = async () => (await query<{ tablename: string }>(db.url, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'mikro_orm_migrations' ORDER BY 1`)).map((r) => r.tablename);

describe('migrations', () => {
  it('go up, down and up again, and leave no difference from the mappings', async () => {
    expect(await pendingMigrations(orm)).not.toEqual([]);
    await migrate(orm);
    expect(await pendingMigrations(orm)).toEqual([]);
    const created = await tables();
    expect(created).toEqual(expect.arrayContaining(['tickets', 'messages', 'attachments', 'ticket_events', 'intake_receipts', 'reporters', 'reporter_identities', 'notifications', 'api_keys']));

    // An organization brings its ticket-number sequence; down() must take it away too.
    await query(db.url, `CREATE SEQUENCE tn_0123456789abcdef0123456789abcdef START WITH 1001`);
    await orm.getMigrator().down({ to: 0 });
    expect(await tables()).toEqual([]);
    expect(await query(db.url, `SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' AND sequencename LIKE 'tn\\_%'`)).toEqual([]);

    await migrate(orm);
    expect(await tables()).toEqual(created);
    await query(db.url, `CREATE SEQUENCE tn_0123456789abcdef0123456789abcdef START WITH 1001`);
    const diff = await orm.schema.getUpdateSchemaSQL({ wrap: false });
    expect(diff.trim()).toBe('');
  });
});
