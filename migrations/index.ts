import { Migration20261122153859_initial } from './Migration20261122153859_initial.ts';

/**
 * Every migration, in order. Listed rather than discovered from the folder so that the same code runs
 * under tsx, vitest and a bundle. After `npx mikro-orm migration:create`, review the new file, give it a
 * down(), and add it here.
 */
export const migrationsList = [
  { name: 'Migration20261122153859_initial', class: Migration20261122153859_initial },
];
