// Used by the MikroORM CLI (`npx mikro-orm migration:create`) when writing a new migration.
import { ormOptions } from './src/persistence/orm-config.ts';

export default ormOptions(process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/helpdesk_dev');
