import { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { ormOptions } from './orm-config.ts';

/** Opens the pool. Does not touch the schema: that is `npm run migrate`'s job. */
export async function openDatabase(url: string, poolSize = 10, logger?: Logger): Promise<MikroORM> {
  return MikroORM.init(ormOptions(url, poolSize, logger));
}

/** Applies every pending migration; returns the names applied. */
export async function migrate(orm: MikroORM): Promise<string[]> {
  const applied = await orm.getMigrator().up();
  return applied.map((m) => m.name);
}

export async function pendingMigrations(orm: MikroORM): Promise<string[]> {
  return (await orm.getMigrator().getPendingMigrations()).map((m) => m.name);
}

/** Refuses to run on a database whose schema is behind the code, with the command that fixes it. */
export async function assertSchemaCurrent(orm: MikroORM): Promise<void> {
  const pending = await pendingMigrations(orm);
  if (pending.length > 0) {
    throw new Error(
      `The database schema is behind this version (${pending.length} pending migration(s): ${pending.join(', ')}). ` +
        'Run `npm run migrate` and start again.',
    );
  }
}

/** True when the database answers a trivial query within `timeoutMs`. */
export async function databaseAnswers(orm: MikroORM, timeoutMs = 1000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      orm.em.getConnection().execute('select 1'),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('timeout')), timeoutMs); }),
    ]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
