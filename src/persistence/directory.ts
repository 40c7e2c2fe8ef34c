import { randomBytes } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { v7 as uuidv7 } from 'uuid';
import { DomainError, invalid } from '../core/errors.ts';
import type { Role } from '../core/vocabulary.ts';
import { withSql } from './sql.ts';
import { ensureTicketNumberSequence } from './ticket-numbers.ts';
import {
  CategorySchema, OrganizationSchema, PhysicalObjectSchema, ServiceSchema, UserSchema,
  type Category, type Organization, type PhysicalObject, type Service, type User,
} from './entities.ts';

/**
 * Organizations and what belongs to them apart from tickets: users, categories, services, objects.
 * Administrative writes, so they go through the EntityManager (one fork per call).
 */
export class Directory {
  constructor(private readonly orm: MikroORM) {}

  private em(): EntityManager {
    return this.orm.em.fork();
  }

  async createOrganization(name: string, slug?: string): Promise<Organization> {
    const finalSlug = slug ?? slugify(name);
    if (!/^[a-z0-9][a-z0-9-]{0,99}$/.test(finalSlug)) throw invalid('slug', 'Use lowercase letters, digits and dashes (e.g. acme-support).');
    const em = this.em();
    const org = em.create(OrganizationSchema, { id: uuidv7(), name, slug: finalSlug, createdAt: new Date() });
    await flushUnique(em, `An organization with slug "${finalSlug}" already exists.`);
    await withSql(this.orm, (sql) => ensureTicketNumberSequence(sql, org.id));
    return org;
  }

  /** An organization by id or slug. */
  async organization(ref: string): Promise<Organization> {
    const em = this.em();
    const org = isUuid(ref) ? await em.findOne(OrganizationSchema, { id: ref }) : await em.findOne(OrganizationSchema, { slug: ref });
    if (!org) throw new DomainError('not_found', `No organization "${ref}". List them with \`npm run cli -- org list\`.`);
    return org;
  }

  async organizations(): Promise<Organization[]> {
    return this.em().find(OrganizationSchema, {}, { orderBy: { createdAt: 'asc' } });
  }

  async createUser(orgRef: string, input: { email: string; name?: string; role: Role; locale?: string }): Promise<User> {
    const org = await this.organization(orgRef);
    const em = this.em();
    const email = input.email.trim().toLowerCase();
    if (!/^[^@\s]+@[^@\s]+$/.test(email)) throw invalid('email', `"${input.email}" is not an email address.`);
    const user = em.create(UserSchema, {
      id: uuidv7(), organization: org.id, email, name: input.name ?? email.split('@')[0]!, role: input.role,
      locale: input.locale ?? 'en', createdAt: new Date(),
    });
    await flushUnique(em, `${email} is already a user of ${org.slug}.`);
    // One person, one reporter: someone who already wrote in by email gets that history with the account.
    await withSql(this.orm, (sql) => sql.rows(
      `UPDATE reporters SET user_id = $1
        WHERE user_id IS NULL AND id = (SELECT reporter_id FROM reporter_identities
                                         WHERE organization_id = $2 AND kind = 'email' AND address = $3)`,
      [user.id, org.id, email],
    ));
    return user;
  }

  /** A user by id, or by email within an organization. */
  async user(ref: string, orgRef?: string): Promise<User> {
    const em = this.em();
    if (isUuid(ref)) {
      const user = await em.findOne(UserSchema, orgRef ? { id: ref, organization: (await this.organization(orgRef)).id } : { id: ref });
      if (user) return user;
    } else if (orgRef) {
      const org = await this.organization(orgRef);
      const user = await em.findOne(UserSchema, { organization: org.id, email: ref.trim().toLowerCase() });
      if (user) return user;
    } else {
      const users = await em.find(UserSchema, { email: ref.trim().toLowerCase() });
      if (users.length === 1) return users[0]!;
      if (users.length > 1) throw new DomainError('conflict', `${ref} is a user of several organizations; add --org.`);
    }
    throw new DomainError('not_found', `No user "${ref}".`);
  }

  async createCategory(orgRef: string, name: string, parentId?: string): Promise<Category> {
    const org = await this.organization(orgRef);
    const em = this.em();
    if (parentId && !(await em.findOne(CategorySchema, { id: parentId, organization: org.id }))) {
      throw invalid('parent', `No category ${parentId} in ${org.slug}.`);
    }
    const category = em.create(CategorySchema, { id: uuidv7(), organization: org.id, parent: parentId ?? null, name, createdAt: new Date() });
    await flushUnique(em, `A category "${name}" already exists there.`);
    return category;
  }

  async createService(orgRef: string, name: string, description = ''): Promise<Service> {
    const org = await this.organization(orgRef);
    const em = this.em();
    const service = em.create(ServiceSchema, { id: uuidv7(), organization: org.id, name, description, createdAt: new Date() });
    await flushUnique(em, `A service "${name}" already exists.`);
    return service;
  }

  async createObject(orgRef: string, input: { name: string; kind?: string; address?: string; description?: string }): Promise<PhysicalObject> {
    const org = await this.organization(orgRef);
    const em = this.em();
    const object = em.create(PhysicalObjectSchema, {
      id: uuidv7(), organization: org.id, name: input.name, kind: input.kind ?? '', address: input.address ?? '',
      description: input.description ?? '', passportToken: randomBytes(16).toString('hex'), createdAt: new Date(),
    });
    await em.flush();
    return object;
  }
}

/** What the API lists of an organization's directory, and the columns it shows. */
const LISTS = {
  users: `SELECT count(*) OVER () AS total, id, email, name, role, locale, created_at
            FROM users WHERE organization_id = $1 ORDER BY name, id`,
  categories: `SELECT count(*) OVER () AS total, id, parent_id AS parent, name
                 FROM categories WHERE organization_id = $1 ORDER BY parent_id NULLS FIRST, name, id`,
  services: `SELECT count(*) OVER () AS total, id, name, description
               FROM services WHERE organization_id = $1 ORDER BY name, id`,
  objects: `SELECT count(*) OVER () AS total, id, name, kind, address, description
              FROM objects WHERE organization_id = $1 ORDER BY name, id`,
} as const;
export type DirectoryList = keyof typeof LISTS;

/** One page of users, categories, services or objects of an organization, and how many there are. */
export async function listDirectory(orm: MikroORM, list: DirectoryList, organizationId: string, page: number, perPage: number) {
  const rows = await withSql(orm, (sql) => sql.rows<Record<string, unknown> & { total: string }>(
    `${LISTS[list]} LIMIT $2 OFFSET $3`, [organizationId, perPage, (page - 1) * perPage]));
  return { data: rows.map(({ total: _total, ...row }) => row), total: rows[0] ? Number(rows[0].total) : 0 };
}

/** Which of these storage keys an attachment row (or a kept raw mail) points to. */
export async function referencedStorageKeys(orm: MikroORM, keys: string[]): Promise<Set<string>> {
  const rows = await withSql(orm, (sql) => sql.rows<{ storage_key: string }>(
    `SELECT DISTINCT storage_key FROM attachments WHERE storage_key = ANY($1::text[])
     UNION SELECT raw_storage_key FROM inbound_mails WHERE raw_storage_key = ANY($1::text[])
     UNION SELECT photo_storage_key FROM objects WHERE photo_storage_key = ANY($1::text[])`, [keys]));
  return new Set(rows.map((r) => r.storage_key));
}

export async function countOrganizations(orm: MikroORM): Promise<number> {
  const row = await withSql(orm, (sql) => sql.one<{ n: string }>('SELECT count(*) AS n FROM organizations'));
  return Number(row?.n ?? 0);
}

async function flushUnique(em: EntityManager, message: string): Promise<void> {
  try {
    await em.flush();
  } catch (err) {
    if (err instanceof UniqueConstraintViolationException) throw new DomainError('conflict', message);
    throw err;
  }
}

const isUuid = (s: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);

export function slugify(name: string): string {
  return name.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60) || 'org';
}
