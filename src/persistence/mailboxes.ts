import type { MikroORM } from '@mikro-orm/postgresql';
import { v7 as uuidv7 } from 'uuid';
import { DomainError } from '../core/errors.ts';
import type { SecretBox } from '../security/secret-box.ts';
import { PG, pgCode, withSql } from './sql.ts';

/** A mailbox with its connection URLs decrypted, as the email channel uses it. */
export interface MailboxConfig {
  id: string;
  organizationId: string;
  address: string;
  imapUrl: string;
  smtpUrl: string;
  plusAddressing: boolean;
  enabled: boolean;
}

export interface MailboxStatus {
  id: string; organization_id: string; organization_slug: string; address: string; imap: string; smtp: string;
  plus_addressing: boolean; enabled: boolean; uid_validity: string | null; last_uid: number; last_error: string | null;
  last_sync_at: string | null;
}

export interface Checkpoint { uidValidity: string | null; lastUid: number; lastSyncAt?: Date | null }

const MAILBOX_COLUMNS = 'id, organization_id, address, imap_url, smtp_url, plus_addressing, enabled';

/** Mailboxes of organizations: connection settings with sealed passwords, and each one's IMAP checkpoint. */
export class Mailboxes {
  constructor(private readonly orm: MikroORM, private readonly box: SecretBox) {}

  async add(m: Omit<MailboxConfig, 'id' | 'enabled'>): Promise<MailboxConfig> {
    for (const [name, url] of [['IMAP', m.imapUrl], ['SMTP', m.smtpUrl]] as const) checkUrl(name, url);
    const id = uuidv7();
    try {
      await withSql(this.orm, (sql) => sql.rows(
        `INSERT INTO mailboxes (id, organization_id, address, imap_url, smtp_url, plus_addressing) VALUES ($1, $2, $3, $4, $5, $6)`,
        [id, m.organizationId, m.address.toLowerCase(), sealUrl(this.box, m.imapUrl), sealUrl(this.box, m.smtpUrl), m.plusAddressing],
      ));
    } catch (err) {
      if (pgCode(err) === PG.uniqueViolation) throw new DomainError('conflict', `The mailbox ${m.address} is already connected.`, 'address');
      throw err;
    }
    return { ...m, id, address: m.address.toLowerCase(), enabled: true };
  }

  /** Creates or updates the mailbox the environment defines, keeping its checkpoint. */
  async upsertFromEnvironment(m: Omit<MailboxConfig, 'id' | 'enabled'>): Promise<void> {
    await withSql(this.orm, (sql) => sql.rows(
      `INSERT INTO mailboxes (id, organization_id, address, imap_url, smtp_url, plus_addressing) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (address) DO UPDATE SET organization_id = excluded.organization_id, imap_url = excluded.imap_url,
              smtp_url = excluded.smtp_url, plus_addressing = excluded.plus_addressing, enabled = true`,
      [uuidv7(), m.organizationId, m.address.toLowerCase(), sealUrl(this.box, m.imapUrl), sealUrl(this.box, m.smtpUrl), m.plusAddressing],
    ));
  }

  /**
   * The enabled mailboxes. One whose password cannot be decrypted (APP_SECRET changed) is left out and gets the
   * reason as its error; the others are unaffected.
   */
  async enabled(): Promise<MailboxConfig[]> {
    const rows = await withSql(this.orm, (sql) => sql.rows<Row>(`SELECT ${MAILBOX_COLUMNS} FROM mailboxes WHERE enabled ORDER BY created_at`));
    const usable: MailboxConfig[] = [];
    for (const r of rows) {
      try {
        usable.push(this.toConfig(r));
      } catch (err) {
        await this.noteError(r.id, (err as Error).message);
      }
    }
    return usable;
  }

  async byAddress(address: string): Promise<MailboxConfig | null> {
    const row = await withSql(this.orm, (sql) => sql.one<Row>(`SELECT ${MAILBOX_COLUMNS} FROM mailboxes WHERE address = $1`, [address.toLowerCase()]));
    return row ? this.toConfig(row) : null;
  }

  async byId(id: string): Promise<MailboxConfig | null> {
    const row = await withSql(this.orm, (sql) => sql.one<Row>(`SELECT ${MAILBOX_COLUMNS} FROM mailboxes WHERE id = $1`, [id]));
    return row ? this.toConfig(row) : null;
  }

  /** Every address we send from, to recognize our own mail coming back. */
  async allAddresses(): Promise<Set<string>> {
    const rows = await withSql(this.orm, (sql) => sql.rows<{ address: string }>('SELECT address FROM mailboxes'));
    return new Set(rows.map((r) => r.address));
  }

  async list(organizationId?: string): Promise<MailboxStatus[]> {
    const rows = await withSql(this.orm, (sql) => sql.rows<Record<string, unknown>>(
      `SELECT b.*, o.slug AS organization_slug FROM mailboxes b JOIN organizations o ON o.id = b.organization_id
        WHERE $1::uuid IS NULL OR b.organization_id = $1 ORDER BY o.slug, b.address`,
      [organizationId ?? null],
    ));
    return rows.map((r) => ({
      id: r.id as string, organization_id: r.organization_id as string, organization_slug: r.organization_slug as string,
      address: r.address as string, imap: redactUrl(r.imap_url as string), smtp: redactUrl(r.smtp_url as string),
      plus_addressing: r.plus_addressing as boolean, enabled: r.enabled as boolean, uid_validity: r.uid_validity as string | null,
      last_uid: Number(r.last_uid), last_error: r.last_error as string | null,
      last_sync_at: r.last_sync_at ? new Date(r.last_sync_at as string).toISOString() : null,
    }));
  }

  async remove(address: string): Promise<boolean> {
    const rows = await withSql(this.orm, (sql) => sql.rows('DELETE FROM mailboxes WHERE address = $1 RETURNING id', [address.toLowerCase()]));
    return rows.length > 0;
  }

  async checkpoint(id: string): Promise<Checkpoint | null> {
    const row = await withSql(this.orm, (sql) => sql.one<{ uid_validity: string | null; last_uid: string; last_sync_at: Date | null }>(
      'SELECT uid_validity, last_uid, last_sync_at FROM mailboxes WHERE id = $1', [id]));
    return row ? { uidValidity: row.uid_validity, lastUid: Number(row.last_uid), lastSyncAt: row.last_sync_at ? new Date(row.last_sync_at) : null } : null;
  }

  async saveCheckpoint(id: string, cp: Checkpoint): Promise<void> {
    await withSql(this.orm, (sql) => sql.rows(
      'UPDATE mailboxes SET uid_validity = $2, last_uid = $3, last_error = NULL, last_sync_at = now() WHERE id = $1',
      [id, cp.uidValidity, cp.lastUid]));
  }

  async noteError(id: string, error: string | null): Promise<void> {
    await withSql(this.orm, (sql) => sql.rows('UPDATE mailboxes SET last_error = $2, last_sync_at = now() WHERE id = $1', [id, error]));
  }

  private toConfig(r: Row): MailboxConfig {
    return {
      id: r.id, organizationId: r.organization_id, address: r.address, imapUrl: openUrl(this.box, r.imap_url),
      smtpUrl: openUrl(this.box, r.smtp_url), plusAddressing: r.plus_addressing, enabled: r.enabled,
    };
  }
}

interface Row { id: string; organization_id: string; address: string; imap_url: string; smtp_url: string; plus_addressing: boolean; enabled: boolean }

function checkUrl(name: string, url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DomainError('invalid', `The ${name} URL is not a URL; write it like ${name === 'IMAP' ? 'imaps://user:password@imap.example.com:993' : 'smtps://user:password@smtp.example.com:465'}.`, name.toLowerCase());
  }
  const schemes = name === 'IMAP' ? ['imap:', 'imaps:'] : ['smtp:', 'smtps:'];
  if (!schemes.includes(parsed.protocol)) {
    throw new DomainError('invalid', `The ${name} URL must start with ${schemes.map((s) => `${s}//`).join(' or ')}.`, name.toLowerCase());
  }
}

/** The URL with its password replaced by the sealed password. */
function sealUrl(box: SecretBox, url: string): string {
  const u = new URL(url);
  if (u.password) u.password = box.seal(decodeURIComponent(u.password));
  return u.toString();
}

function openUrl(box: SecretBox, url: string): string {
  const u = new URL(url);
  if (u.password) u.password = encodeURIComponent(box.open(decodeURIComponent(u.password)));
  return u.toString();
}

function redactUrl(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}
