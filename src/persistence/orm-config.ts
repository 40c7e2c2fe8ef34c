import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import type { Logger } from 'pino';
import { migrationsList } from '../../migrations/index.ts';
import { entities } from './entities.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** MikroORM options for a connection string. The schema comes only from migrations in `migrations/`. */
export function ormOptions(clientUrl: string, poolSize = 10, logger?: Logger): Options {
  return defineConfig({
    clientUrl,
    // knex reports dropped connections on the console; they belong in the structured log.
    ...(logger ? {
      driverOptions: {
        log: {
          warn: (message: unknown) => logger.warn({ db: String(message) }, 'database connection'),
          error: (message: unknown) => logger.error({ db: String(message) }, 'database connection'),
          deprecate: () => undefined,
          debug: () => undefined,
        },
      },
    } : {}),
    entities,
    discovery: { warnWhenNoEntities: true },
    extensions: [Migrator],
    pool: { min: 0, max: poolSize },
    // The hot paths use their own SQL; keep the ORM from logging every query.
    debug: false,
    allowGlobalContext: false,
    forceUtcTimezone: true,
    migrations: {
      path: path.join(root, 'migrations'),
      pathTs: path.join(root, 'migrations'),
      glob: '!(*.d|index).{js,ts}',
      migrationsList,
      transactional: true,
      // The migrator would print to stdout, where the CLI writes its JSON results.
      silent: true,
      allOrNothing: true,
      snapshot: false,
      emit: 'ts',
      fileName: (timestamp: string, name?: string) => `Migration${timestamp}${name ? '_' + name : ''}`,
    },
    preferTs: true,
  });
}
