import { randomBytes } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { v7 as uuidv7 } from 'uuid';
import { DomainError } from '../core/errors.ts';
import type { SecretBox } from '../security/secret-box.ts';
import { PG, pgCode, withSql } from './sql.ts';

/** A bot with its token opened, as the Telegram channel uses it. */
export interface BotConfig {
  id: string;
  organizationId: string;
  botId: string;
  username: string;
  token: string;
  webhookSecret: string;
  mode: 'webhook' | 'polling';
}

export interface BotStatus {
  id: string; organization_slug: string; bot_id: string; username: string; mode: string; enabled: boolean;
  update_offset: string; last_error: string | null;
}

const BOT_COLUMNS = 'id, organization_id, bot_id, username, token, webhook_secret, mode';

/** Telegram bots of organizations, their polling offsets, and which chat messages belong to which ticket. */
export class TelegramStore {
  constructor(private readonly orm: MikroORM, private readonly box: SecretBox) {}

  async addBot(b: { organizationId: string; botId: string; username: string; token: string; mode: 'webhook' | 'polling' }, opts: { replace?: boolean } = {}): Promise<BotConfig> {
    const row = { id: uuidv7(), webhookSecret: randomBytes(24).toString('hex') };
    try {
      const saved = await withSql(this.orm, (sql) => sql.one<{ id: string; webhook_secret: string }>(
        `INSERT INTO telegram_bots (id, organization_id, bot_id, username, token, webhook_secret, mode) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ${opts.replace ? `ON CONFLICT (bot_id) DO UPDATE SET organization_id = excluded.organization_id, username = excluded.username,
                             token = excluded.token, mode = excluded.mode, enabled = true` : ''}
         RETURNING id, webhook_secret`,
        [row.id, b.organizationId, b.botId, b.username, this.box.seal(b.token), row.webhookSecret, b.mode]));
      return { ...b, id: saved!.id, webhookSecret: saved!.webhook_secret };
    } catch (err) {
      if (pgCode(err) === PG.uniqueViolation) throw new DomainError('conflict', `The bot @${b.username} is already connected; remove it first to connect it again.`, 'token');
      throw err;
    }
  }

  /** Enabled bots; one whose token cannot be opened (APP_SECRET changed) is left out with the reason as its error. */
  async enabled(): Promise<BotConfig[]> {
    const rows = await withSql(this.orm, (sql) => sql.rows<Row>(`SELECT ${BOT_COLUMNS} FROM telegram_bots WHERE enabled ORDER BY created_at`));
    const bots: BotConfig[] = [];
    for (const r of rows) {
      try {
        bots.push(this.toConfig(r));
      } catch (err) {
        await this.noteError(r.id, (err as Error).message);
      }
    }
    return bots;
  }

  async byBotId(botId: string): Promise<BotConfig | null> {
    if (!/^\d{1,19}$/.test(botId)) return null;
    const row = await withSql(this.orm, (sql) => sql.one<Row>(`SELECT ${BOT_COLUMNS} FROM telegram_bots WHERE bot_id = $1 AND enabled`, [botId]));
    return row ? this.toConfig(row) : null;
  }

  async byId(id: string): Promise<BotConfig | null> {
    const row = await withSql(this.orm, (sql) => sql.one<Row>(`SELECT ${BOT_COLUMNS} FROM telegram_bots WHERE id = $1`, [id]));
    return row ? this.toConfig(row) : null;
  }

  async list(organizationId?: string): Promise<BotStatus[]> {
    return withSql(this.orm, (sql) => sql.rows<BotStatus>(
      `SELECT b.id, o.slug AS organization_slug, b.bot_id::text AS bot_id, b.username, b.mode, b.enabled, b.update_offset::text AS update_offset, b.last_error
         FROM telegram_bots b JOIN organizations o ON o.id = b.organization_id
        WHERE $1::uuid IS NULL OR b.organization_id = $1 ORDER BY o.slug, b.username`,
      [organizationId ?? null]));
  }

  /** Removes a bot named by its username (with or without @) or its numeric id. */
  async remove(ref: string): Promise<BotConfig | null> {
    const name = ref.replace(/^@/, '');
    const row = await withSql(this.orm, (sql) => sql.one<Row>(
      `DELETE FROM telegram_bots WHERE lower(username) = lower($1) OR bot_id::text = $1 RETURNING ${BOT_COLUMNS}`, [name]));
    return row ? this.toConfig(row) : null;
  }

  async offset(id: string): Promise<number> {
    const row = await withSql(this.orm, (sql) => sql.one<{ update_offset: string }>('SELECT update_offset FROM telegram_bots WHERE id = $1', [id]));
    return Number(row?.update_offset ?? 0);
  }

  async saveOffset(id: string, offset: number): Promise<void> {
    await withSql(this.orm, (sql) => sql.rows('UPDATE telegram_bots SET update_offset = greatest(update_offset, $2), last_error = NULL WHERE id = $1', [id, offset]));
  }

  async noteError(id: string, error: string | null): Promise<void> {
    await withSql(this.orm, (sql) => sql.rows('UPDATE telegram_bots SET last_error = $2 WHERE id = $1', [id, error]));
  }

  async rememberMessage(m: { organizationId: string; botRowId: string; chatId: number; telegramMessageId: number; ticketId: string; messageId?: string | null; direction: 'in' | 'out' }): Promise<void> {
    await withSql(this.orm, (sql) => sql.rows(
      `INSERT INTO telegram_messages (id, organization_id, bot_id, chat_id, telegram_message_id, ticket_id, message_id, direction)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (bot_id, chat_id, telegram_message_id) DO NOTHING`,
      [uuidv7(), m.organizationId, m.botRowId, m.chatId, m.telegramMessageId, m.ticketId, m.messageId ?? null, m.direction]));
  }

  /** The ticket number a chat message belongs to (the bot's message a reporter replied to), or null. */
  async ticketOfMessage(organizationId: string, botRowId: string, chatId: number, telegramMessageId: number): Promise<number | null> {
    const row = await withSql(this.orm, (sql) => sql.one<{ number: number }>(
      `SELECT t.number FROM telegram_messages m JOIN tickets t ON t.id = m.ticket_id AND t.organization_id = m.organization_id
        WHERE m.organization_id = $4 AND m.bot_id = $1 AND m.chat_id = $2 AND m.telegram_message_id = $3`, [botRowId, chatId, telegramMessageId, organizationId]));
    return row?.number ?? null;
  }

  /** The object a QR passport token names, in this organization. */
  async objectByToken(organizationId: string, token: string): Promise<{ id: string; name: string } | null> {
    const row = await withSql(this.orm, (sql) => sql.one<{ id: string; name: string }>(
      'SELECT id, name FROM objects WHERE organization_id = $1 AND passport_token = $2', [organizationId, token]));
    return row ?? null;
  }

  async ticketIdOf(organizationId: string, number: number): Promise<string | null> {
    const row = await withSql(this.orm, (sql) => sql.one<{ id: string }>('SELECT id FROM tickets WHERE organization_id = $1 AND number = $2', [organizationId, number]));
    return row?.id ?? null;
  }

  /** Our message a reporter's chat message became (for edits), or null. */
  /**
   * Our message a reporter's chat message became (for edits), or null, also when several chat messages (an
   * album) made it: one caption's edit must not replace the others.
   */
  async messageOf(organizationId: string, botRowId: string, chatId: number, telegramMessageId: number): Promise<string | null> {
    const row = await withSql(this.orm, (sql) => sql.one<{ message_id: string | null; parts: string }>(
      `SELECT m.message_id, (SELECT count(*) FROM telegram_messages o WHERE o.message_id = m.message_id) AS parts
         FROM telegram_messages m
        WHERE m.organization_id = $4 AND m.bot_id = $1 AND m.chat_id = $2 AND m.telegram_message_id = $3 AND m.direction = 'in'`,
      [botRowId, chatId, telegramMessageId, organizationId]));
    return row && Number(row.parts) === 1 ? row.message_id : null;
  }

  /** The reporter's tickets (any status), newest first, with their last public message. */
  async ticketsOf(organizationId: string, telegramUserId: string, limit = 10): Promise<Array<{ number: number; subject: string; status: string; last: string | null }>> {
    return withSql(this.orm, (sql) => sql.rows<{ number: number; subject: string; status: string; last: string | null }>(
      `SELECT t.number, t.subject, t.status,
              (SELECT m.body FROM messages m WHERE m.ticket_id = t.id AND m.visibility = 'public' ORDER BY m.created_at DESC LIMIT 1) AS last
         FROM tickets t
         JOIN reporter_identities i ON i.reporter_id = t.reporter_id AND i.organization_id = t.organization_id
        WHERE i.organization_id = $1 AND i.kind = 'telegram' AND i.address = $2
        ORDER BY t.created_at DESC LIMIT $3`,
      [organizationId, telegramUserId, limit]));
  }

  /** A user who blocked the bot (or unblocked it): notifications skip (or use again) their Telegram identity. */
  async setDeliverable(organizationId: string, telegramUserId: string, deliverable: boolean, reason: string | null): Promise<void> {
    await withSql(this.orm, (sql) => sql.rows(
      `UPDATE reporter_identities SET deliverable = $3, undeliverable_reason = $4 WHERE organization_id = $1 AND kind = 'telegram' AND address = $2`,
      [organizationId, telegramUserId, deliverable, reason]));
  }

  /** Tickets of the reporter behind this Telegram user that are still open, newest first. */
  async openTickets(organizationId: string, telegramUserId: string): Promise<Array<{ number: number; subject: string; createdAt: Date }>> {
    const rows = await withSql(this.orm, (sql) => sql.rows<{ number: number; subject: string; created_at: Date | string }>(
      `SELECT t.number, t.subject, t.created_at FROM tickets t
         JOIN reporter_identities i ON i.reporter_id = t.reporter_id AND i.organization_id = t.organization_id
        WHERE i.organization_id = $1 AND i.kind = 'telegram' AND i.address = $2 AND t.status NOT IN ('resolved', 'closed')
        ORDER BY t.created_at DESC LIMIT 20`,
      [organizationId, telegramUserId]));
    return rows.map((r) => ({ number: r.number, subject: r.subject, createdAt: new Date(r.created_at) }));
  }

  /**
   * Where a notification to this Telegram user goes: the bot that last talked with them in the organization
   * (else its first bot), and the bot's latest message about the ticket to reply to.
   */
  async route(organizationId: string, telegramUserId: string, ticketNumber: number | null, messageId: string | null = null): Promise<{ bot: BotConfig; replyTo: number | null; ticketId: string | null } | null> {
    const row = await withSql(this.orm, (sql) => sql.one<Row & { reply_to: string | null; ticket_id: string | null }>(
      `WITH t AS (SELECT id FROM tickets WHERE organization_id = $1 AND number = $3::int),
            b AS (SELECT b.* FROM telegram_bots b
                   WHERE b.organization_id = $1 AND b.enabled
                   -- The bot the reported message came in through, then the one that last talked with the chat.
                   ORDER BY b.username = (SELECT x.metadata->'telegram'->>'bot' FROM messages x WHERE x.id = $4::uuid) DESC NULLS LAST,
                            (SELECT max(m.created_at) FROM telegram_messages m WHERE m.bot_id = b.id AND m.chat_id = $2::bigint) DESC NULLS LAST,
                            b.created_at
                   LIMIT 1)
       SELECT ${BOT_COLUMNS.split(', ').map((c) => `b.${c}`).join(', ')},
              coalesce(
                (SELECT m.telegram_message_id FROM telegram_messages m, t
                  WHERE m.bot_id = b.id AND m.chat_id = $2::bigint AND m.ticket_id = t.id
                  ORDER BY (m.direction = 'out') DESC, m.created_at DESC LIMIT 1),
                -- The reporter's message that caused the notification, before its chat mapping is written.
                (SELECT (x.metadata->'telegram'->'messageIds'->>0)::bigint FROM messages x
                  WHERE x.id = $4::uuid AND x.metadata->'telegram'->>'chatId' = $2::text))::text AS reply_to,
              (SELECT id FROM t) AS ticket_id
         FROM b`,
      [organizationId, telegramUserId, ticketNumber, messageId]));
    if (!row) return null;
    return { bot: this.toConfig(row), replyTo: row.reply_to ? Number(row.reply_to) : null, ticketId: row.ticket_id };
  }

  private toConfig(r: Row): BotConfig {
    return {
      id: r.id, organizationId: r.organization_id, botId: String(r.bot_id), username: r.username, token: this.box.open(r.token),
      webhookSecret: r.webhook_secret, mode: r.mode === 'webhook' ? 'webhook' : 'polling',
    };
  }
}

interface Row { id: string; organization_id: string; bot_id: string; username: string; token: string; webhook_secret: string; mode: string }
