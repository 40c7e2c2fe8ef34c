import type { MikroORM } from '@mikro-orm/postgresql';
import { invalid } from '../core/errors.ts';
import type { Priority } from '../core/vocabulary.ts';
import { iso, withSql } from './sql.ts';

/** An object as staff see it, with its passport token and request template. */
export interface ObjectView {
  id: string; name: string; kind: string; address: string; description: string; passport_token: string;
  has_photo: boolean; template: { category_id: string | null; service_id: string | null; priority: string | null; assignee_id: string | null };
  created_at: string;
}

export interface ObjectChanges {
  name?: string; kind?: string; address?: string; description?: string;
  defaultCategoryId?: string | null; defaultServiceId?: string | null; defaultPriority?: Priority | null; defaultAssigneeId?: string | null;
}

/** What a ticket about an object gets unless it says otherwise. */
export interface ObjectTemplate { categoryId: string | null; serviceId: string | null; priority: Priority | null; assigneeId: string | null }

const VIEW = `SELECT id, name, kind, address, description, passport_token, photo_storage_key IS NOT NULL AS has_photo,
                     default_category_id, default_service_id, default_priority, default_assignee_id, created_at FROM objects`;

/** Objects of an organization beyond the directory listing: template, photo, passport token. */
export class ObjectsStore {
  constructor(private readonly orm: MikroORM) {}

  async get(organizationId: string, id: string): Promise<ObjectView | null> {
    const row = await withSql(this.orm, (sql) => sql.one<Record<string, unknown>>(`${VIEW} WHERE organization_id = $1 AND id = $2`, [organizationId, id]));
    return row ? toView(row) : null;
  }

  async many(organizationId: string, ids: string[]): Promise<ObjectView[]> {
    const rows = await withSql(this.orm, (sql) => sql.rows<Record<string, unknown>>(
      `${VIEW} WHERE organization_id = $1 AND id = ANY($2::uuid[]) ORDER BY array_position($2::uuid[], id)`, [organizationId, ids]));
    return rows.map(toView);
  }

  /** Applies changes; references to another organization's category, service or user are refused. */
  async update(organizationId: string, id: string, c: ObjectChanges): Promise<ObjectView | null> {
    await this.checkReferences(organizationId, c);
    const sets: string[] = [];
    const params: unknown[] = [organizationId, id];
    const set = (column: string, value: unknown) => {
      params.push(value);
      sets.push(`${column} = $${params.length}`);
    };
    if (c.name !== undefined) set('name', c.name);
    if (c.kind !== undefined) set('kind', c.kind);
    if (c.address !== undefined) set('address', c.address);
    if (c.description !== undefined) set('description', c.description);
    if (c.defaultCategoryId !== undefined) set('default_category_id', c.defaultCategoryId);
    if (c.defaultServiceId !== undefined) set('default_service_id', c.defaultServiceId);
    if (c.defaultPriority !== undefined) set('default_priority', c.defaultPriority);
    if (c.defaultAssigneeId !== undefined) set('default_assignee_id', c.defaultAssigneeId);
    if (sets.length > 0) {
      await withSql(this.orm, (sql) => sql.rows(`UPDATE objects SET ${sets.join(', ')} WHERE organization_id = $1 AND id = $2`, params));
    }
    return this.get(organizationId, id);
  }

  async setPhoto(organizationId: string, id: string, storageKey: string, contentType: string): Promise<boolean> {
    const rows = await withSql(this.orm, (sql) => sql.rows(
      'UPDATE objects SET photo_storage_key = $3, photo_content_type = $4 WHERE organization_id = $1 AND id = $2 RETURNING id', [organizationId, id, storageKey, contentType]));
    return rows.length > 0;
  }

  async template(organizationId: string, id: string): Promise<ObjectTemplate | null> {
    const row = await withSql(this.orm, (sql) => sql.one<{ c: string | null; s: string | null; p: Priority | null; a: string | null }>(
      `SELECT default_category_id AS c, default_service_id AS s, default_priority AS p, default_assignee_id AS a
         FROM objects WHERE organization_id = $1 AND id = $2`, [organizationId, id]));
    return row ? { categoryId: row.c, serviceId: row.s, priority: row.p, assigneeId: row.a } : null;
  }

  private async checkReferences(organizationId: string, c: ObjectChanges): Promise<void> {
    const checks: Array<[string | null | undefined, string, string, string]> = [
      [c.defaultCategoryId, 'categories', 'default_category_id', 'No such category in this organization.'],
      [c.defaultServiceId, 'services', 'default_service_id', 'No such service in this organization.'],
      [c.defaultAssigneeId, "users WHERE role IN ('agent', 'admin') AND", 'default_assignee_id', 'The assignee must be an agent or admin of this organization.'],
    ];
    for (const [value, table, field, message] of checks) {
      if (!value) continue;
      const from = table.includes('WHERE') ? `${table} organization_id = $1 AND id = $2` : `${table} WHERE organization_id = $1 AND id = $2`;
      const ok = await withSql(this.orm, (sql) => sql.one(`SELECT 1 FROM ${from}`, [organizationId, value]));
      if (!ok) throw invalid(field, message);
    }
  }
}

function toView(r: Record<string, unknown>): ObjectView {
  return {
    id: r.id as string, name: r.name as string, kind: r.kind as string, address: r.address as string, description: r.description as string,
    passport_token: r.passport_token as string, has_photo: r.has_photo as boolean,
    template: {
      category_id: (r.default_category_id as string | null) ?? null, service_id: (r.default_service_id as string | null) ?? null,
      priority: (r.default_priority as string | null) ?? null, assignee_id: (r.default_assignee_id as string | null) ?? null,
    },
    created_at: iso(r.created_at),
  };
}

/** What an object's public passport page shows: no names, no contact data. */
export interface Passport {
  id: string; organizationId: string; organizationName: string; name: string; kind: string; address: string; description: string;
  photoStorageKey: string | null; photoContentType: string | null; telegramBot: string | null;
  /** Open requests: number, category, status and date only; subjects are the reporters' words and may name them. */
  open: Array<{ number: number; category: string | null; status: string; createdAt: string }>;
}

export async function passportByToken(orm: MikroORM, token: string, opts: { withOpen?: boolean } = {}): Promise<Passport | null> {
  if (!/^[0-9a-f]{16,64}$/.test(token)) return null;
  return withSql(orm, async (sql) => {
    const o = await sql.one<Record<string, unknown>>(
      `SELECT o.id, o.organization_id, g.name AS organization_name, o.name, o.kind, o.address, o.description, o.photo_storage_key, o.photo_content_type,
              (SELECT username FROM telegram_bots b WHERE b.organization_id = o.organization_id AND b.enabled ORDER BY b.created_at LIMIT 1) AS telegram_bot
         FROM objects o JOIN organizations g ON g.id = o.organization_id WHERE o.passport_token = $1`, [token]);
    if (!o) return null;
    const open = opts.withOpen === false ? [] : await sql.rows<{ number: number; category: string | null; status: string; created_at: unknown }>(
      `SELECT t.number, c.name AS category, t.status, t.created_at FROM tickets t LEFT JOIN categories c ON c.id = t.category_id
        WHERE t.organization_id = $1 AND t.object_id = $2 AND t.status NOT IN ('resolved', 'closed')
        ORDER BY t.created_at DESC LIMIT 30`, [o.organization_id, o.id]);
    return {
      id: o.id as string, organizationId: o.organization_id as string, organizationName: o.organization_name as string,
      name: o.name as string, kind: o.kind as string, address: o.address as string, description: o.description as string,
      photoStorageKey: (o.photo_storage_key as string | null) ?? null, photoContentType: (o.photo_content_type as string | null) ?? null, telegramBot: (o.telegram_bot as string | null) ?? null,
      open: open.map((r) => ({ number: r.number, category: r.category, status: r.status, createdAt: iso(r.created_at) })),
    };
  });
}
