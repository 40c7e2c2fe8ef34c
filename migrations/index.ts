import { Migration20261122153859_initial } from './Migration20261122153859_initial.ts';
import { Migration20261122175527_email } from './Migration20261122175527_email.ts';
import { Migration20261122183638_telegram } from './Migration20261122183638_telegram.ts';
import { Migration20261122191312_objects } from './Migration20261122191312_objects.ts';
import { Migration20261122200928_slack } from './Migration20261122200928_slack.ts';

/**
 * Every migration, in order. Listed rather than discovered from the folder so that the same code runs
 * under tsx, vitest and a bundle. After changing the mappings, `npm run migration:create` (with
 * DATABASE_URL pointing at a migrated database) writes the difference; review it, give it a down(), and add
 * it here. `npm run migration:check` tells whether the mappings and the migrations agree.
 */
export const migrationsList = [
  { name: 'Migration20261122153859_initial', class: Migration20261122153859_initial },
  { name: 'Migration20261122175527_email', class: Migration20261122175527_email },
  { name: 'Migration20261122183638_telegram', class: Migration20261122183638_telegram },
  { name: 'Migration20261122191312_objects', class: Migration20261122191312_objects },
  { name: 'Migration20261122200928_slack', class: Migration20261122200928_slack },
];
