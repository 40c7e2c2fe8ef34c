import { randomBytes } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { v7 as uuidv7 } from 'uuid';
import { iso, withSql } from './sql.ts';

export const WEB_FORM_FIELDS = ['name', 'phone', 'email', 'object', 'kind', 'description', 'files'] as const;
export type WebFormField = (typeof WEB_FORM_FIELDS)[number];

export interface WebFormConfig { id: string; organizationId: string; organizationName: string; token: string; title: string; fields: WebFormField[]; createdAt: string }

/** Request forms organizations embed on their websites. */
export class WebForms {
  constructor(private readonly orm: MikroORM) {}

  async create(organizationId: string, title: string, fields: WebFormField[]): Promise<WebFormConfig> {
    const id = uuidv7();
    const token = randomBytes(16).toString('hex');
    await withSql(this.orm, (sql) => sql.rows(
      'INSERT INTO web_forms (id, organization_id, token, title, fields) VALUES ($1, $2, $3, $4, $5::jsonb)',
      [id, organizationId, token, title, JSON.stringify(fields)]));
    return (await this.byToken(token))!;
  }

  async list(organizationId: string): Promise<WebFormConfig[]> {
    const rows = await withSql(this.orm, (sql) => sql.rows<Record<string, unknown>>(
      `SELECT f.*, o.name AS organization_name FROM web_forms f JOIN organizations o ON o.id = f.organization_id WHERE f.organization_id = $1 ORDER BY f.created_at`, [organizationId]));
    return rows.map(toConfig);
  }

  async byToken(token: string): Promise<WebFormConfig | null> {
    if (!/^[0-9a-f]{16,64}$/.test(token)) return null;
    const row = await withSql(this.orm, (sql) => sql.one<Record<string, unknown>>(
      `SELECT f.*, o.name AS organization_name FROM web_forms f JOIN organizations o ON o.id = f.organization_id WHERE f.token = $1`, [token]));
    return row ? toConfig(row) : null;
  }

  /** What the form's pickers offer: the organization's objects and its categories ("kind of work"). */
  async choices(organizationId: string): Promise<{ objects: Array<{ id: string; name: string }>; kinds: Array<{ id: string; name: string }> }> {
    return withSql(this.orm, async (sql) => ({
      objects: await sql.rows<{ id: string; name: string }>('SELECT id, name FROM objects WHERE organization_id = $1 ORDER BY name LIMIT 500', [organizationId]),
      kinds: await sql.rows<{ id: string; name: string }>('SELECT id, name FROM categories WHERE organization_id = $1 ORDER BY name LIMIT 200', [organizationId]),
    }));
  }
}

function toConfig(r: Record<string, unknown>): WebFormConfig {
  return {
    id: r.id as string, organizationId: r.organization_id as string, organizationName: r.organization_name as string,
    token: r.token as string, title: r.title as string, fields: r.fields as WebFormField[], createdAt: iso(r.created_at),
  };
}
