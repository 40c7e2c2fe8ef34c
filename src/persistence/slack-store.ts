import type { MikroORM } from '@mikro-orm/postgresql';
import { v7 as uuidv7 } from 'uuid';
import { DomainError } from '../core/errors.ts';
import { LOCALES, type Locale } from '../core/vocabulary.ts';
import type { SecretBox } from '../security/secret-box.ts';
import { PG, inTransaction, iso, isoOrNull, pgCode, withSql } from './sql.ts';

/** A connected workspace with its secrets opened, as the Slack channel uses it. */
export interface WorkspaceConfig {
  id: string;
  organizationId: string;
  teamId: string;
  teamName: string;
  botUserId: string;
  botToken: string;
  signingSecret: string;
  triageChannel: string;
  noteMarkers: string[];
  language: Locale;
}

export interface WorkspaceStatus {
  organization: string; teamId: string; teamName: string; triageChannel: string; noteMarkers: string[]; language: string;
  enabled: boolean; lastError: string | null; routes: Array<{ category: string | null; service: string | null; channel: string }>;
}

/** A ticket as its Slack message shows it. */
export interface TicketCard {
  id: string;
  organizationId: string;
  number: number;
  subject: string;
  status: string;
  priority: string;
  deadline: string | null;
  channel: string;
  reporterName: string;
  reporterAddress: string | null;
  objectName: string | null;
  categoryId: string | null;
  categoryName: string | null;
  serviceId: string | null;
  serviceName: string | null;
  assigneeName: string | null;
  createdAt: string;
  thread: { channelId: string; ts: string; renderedHash: string } | null;
}

export interface ReplyOutcome {
  organizationId: string; ticketId: string; channelId: string; ts: string; threadTs: string; visibility: string;
  deliveries: Array<{ status: string; error: string | null }>;
}

/** A ticket message still to be posted into the ticket's thread. */
export interface MessageToMirror {
  id: string;
  body: string;
  visibility: 'public' | 'internal';
  authorName: string;
  byStaff: boolean;
  /** The message that opened the ticket. */
  opened: boolean;
  channel: string;
  files: Array<{ filename: string; contentType: string; storageKey: string; size: number }>;
}

const WORKSPACE_COLUMNS = 'id, organization_id, team_id, team_name, bot_user_id, bot_token, signing_secret, triage_channel, note_markers, language';

interface WorkspaceRow {
  id: string; organization_id: string; team_id: string; team_name: string; bot_user_id: string; bot_token: string;
  signing_secret: string; triage_channel: string; note_markers: string[]; language: string;
}

/** Slack workspaces of organizations, the ticket feed they read, and which Slack message is which ticket message. */
export class SlackStore {
  /** Workspaces change rarely and are read for every event and post: kept a few seconds, secrets opened. */
  private cache: { at: number; all: WorkspaceConfig[] } | null = null;

  constructor(private readonly orm: MikroORM, private readonly box: SecretBox, private readonly cacheMs = 0) {}

  /**
   * A workspace from the cache. A miss reads the list again unless it was read less than `missesWithin` ms
   * ago: work for a team arrives only after its signature matched, so a miss there is a workspace connected a
   * moment ago (0: always read); organizations without Slack ask often and are answered from the cache.
   */
  private async cached(match: (w: WorkspaceConfig) => boolean, missesWithin: number): Promise<WorkspaceConfig | null> {
    const age = this.cache ? Date.now() - this.cache.at : Infinity;
    const hit = age < this.cacheMs ? this.cache!.all.find(match) : undefined;
    if (hit || age < Math.min(missesWithin, this.cacheMs)) return hit ?? null;
    const all = await this.enabled();
    this.cache = { at: Date.now(), all };
    return all.find(match) ?? null;
  }

  async addWorkspace(w: Omit<WorkspaceConfig, 'id'>, opts: { replace?: boolean } = {}): Promise<WorkspaceConfig> {
    try {
      const saved = await inTransaction(this.orm, async (sql) => {
        // Another team's channels are not this one's: its tickets get new messages in the new workspace.
        if (opts.replace) {
          await sql.rows(`DELETE FROM slack_threads WHERE organization_id = $1 AND EXISTS (SELECT 1 FROM slack_workspaces WHERE organization_id = $1 AND team_id <> $2)`, [w.organizationId, w.teamId]);
          await sql.rows(`DELETE FROM slack_posts WHERE organization_id = $1 AND EXISTS (SELECT 1 FROM slack_workspaces WHERE organization_id = $1 AND team_id <> $2)`, [w.organizationId, w.teamId]);
        }
        return sql.one<{ id: string }>(
        `INSERT INTO slack_workspaces (id, organization_id, team_id, team_name, bot_user_id, bot_token, signing_secret, triage_channel, note_markers, language)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10)
         ${opts.replace ? `ON CONFLICT (organization_id) DO UPDATE SET team_id = excluded.team_id, team_name = excluded.team_name,
                             bot_user_id = excluded.bot_user_id, bot_token = excluded.bot_token, signing_secret = excluded.signing_secret,
                             triage_channel = excluded.triage_channel, note_markers = excluded.note_markers, language = excluded.language, enabled = true, last_error = NULL` : ''}
         RETURNING id`,
        [uuidv7(), w.organizationId, w.teamId, w.teamName, w.botUserId, this.box.seal(w.botToken), this.box.seal(w.signingSecret),
          w.triageChannel, JSON.stringify(w.noteMarkers), w.language]);
      });
      return { ...w, id: saved!.id };
    } catch (err) {
      if (pgCode(err) === PG.uniqueViolation) {
        throw new DomainError('conflict', 'This organization already has a Slack workspace, or this workspace is connected to another organization: add it with --replace, or remove the other one first (slack remove).');
      }
      throw err;
    }
  }

  async enabled(): Promise<WorkspaceConfig[]> {
    const rows = await withSql(this.orm, (sql) => sql.rows<WorkspaceRow>(`SELECT ${WORKSPACE_COLUMNS} FROM slack_workspaces WHERE enabled ORDER BY created_at`));
    return rows.map((r) => this.open(r));
  }

  async byTeam(teamId: string): Promise<WorkspaceConfig | null> {
    if (this.cacheMs > 0) return this.cached((w) => w.teamId === teamId, 0);
    const row = await withSql(this.orm, (sql) => sql.one<WorkspaceRow>(`SELECT ${WORKSPACE_COLUMNS} FROM slack_workspaces WHERE team_id = $1 AND enabled`, [teamId]));
    return row ? this.open(row) : null;
  }

  /**
   * `known`: the caller knows the organization has a workspace (the feed found it), so a miss is one connected a
   * moment ago and is read again at once.
   */
  async byOrganization(organizationId: string, opts: { known?: boolean } = {}): Promise<WorkspaceConfig | null> {
    if (this.cacheMs > 0) return this.cached((w) => w.organizationId === organizationId, opts.known ? 0 : 1000);
    const row = await withSql(this.orm, (sql) => sql.one<WorkspaceRow>(`SELECT ${WORKSPACE_COLUMNS} FROM slack_workspaces WHERE organization_id = $1 AND enabled`, [organizationId]));
    return row ? this.open(row) : null;
  }

  list(): Promise<WorkspaceStatus[]> {
    return withSql(this.orm, (sql) => sql.rows<WorkspaceStatus>(
      `SELECT o.slug AS organization, w.team_id AS "teamId", w.team_name AS "teamName", w.triage_channel AS "triageChannel",
              w.note_markers AS "noteMarkers", w.language, w.enabled, w.last_error AS "lastError",
              coalesce((SELECT json_agg(json_build_object('category', c.name, 'service', s.name, 'channel', r.channel_id) ORDER BY r.created_at)
                          FROM slack_routes r LEFT JOIN categories c ON c.id = r.category_id LEFT JOIN services s ON s.id = r.service_id
                         WHERE r.organization_id = w.organization_id), '[]') AS routes
         FROM slack_workspaces w JOIN organizations o ON o.id = w.organization_id ORDER BY o.slug`));
  }

  /**
   * Disconnects the organization's workspace. Where its tickets' messages are is kept: connected again, the same
   * workspace goes on in the same threads; another one cannot find them and gets new ones (see forgetPosts).
   */
  async remove(organizationId: string): Promise<boolean> {
    const rows = await withSql(this.orm, (sql) => sql.rows('DELETE FROM slack_workspaces WHERE organization_id = $1 RETURNING id', [organizationId]));
    return rows.length > 0;
  }

  noteError(workspaceId: string, error: string | null): Promise<void> {
    return withSql(this.orm, async (sql) => {
      await sql.rows('UPDATE slack_workspaces SET last_error = $2 WHERE id = $1', [workspaceId, error]);
    });
  }

  /** Routes a category's or a service's tickets to a channel (null channel: back to the triage channel). */
  setRoute(organizationId: string, by: { categoryId?: string; serviceId?: string }, channelId: string | null): Promise<void> {
    return inTransaction(this.orm, async (sql) => {
      // The unique constraint cannot see a NULL column as equal: route changes of an organization take turns.
      await sql.rows('SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE', [organizationId]);
      await sql.rows(
        `DELETE FROM slack_routes WHERE organization_id = $1 AND category_id IS NOT DISTINCT FROM $2::uuid AND service_id IS NOT DISTINCT FROM $3::uuid`,
        [organizationId, by.categoryId ?? null, by.serviceId ?? null]);
      if (channelId) {
        await sql.rows('INSERT INTO slack_routes (id, organization_id, category_id, service_id, channel_id) VALUES ($1, $2, $3, $4, $5)',
          [uuidv7(), organizationId, by.categoryId ?? null, by.serviceId ?? null, channelId]);
      }
    });
  }

  /**
   * The channel a ticket's message goes to: a route for its category (or a parent category), then for its
   * service, else the triage channel.
   */
  async channelFor(workspace: WorkspaceConfig, ticket: Pick<TicketCard, 'categoryId' | 'serviceId'>): Promise<string> {
    const row = await withSql(this.orm, (sql) => sql.one<{ channel_id: string }>(
      `WITH RECURSIVE up(id, depth) AS (
         SELECT $2::uuid, 0 WHERE $2::uuid IS NOT NULL
         UNION ALL SELECT c.parent_id, up.depth + 1 FROM categories c JOIN up ON c.id = up.id WHERE c.parent_id IS NOT NULL AND up.depth < 20)
       SELECT r.channel_id FROM slack_routes r
        WHERE r.organization_id = $1
          AND ((r.category_id IN (SELECT id FROM up) AND r.service_id IS NULL) OR (r.service_id = $3::uuid AND r.category_id IS NULL))
        ORDER BY r.category_id IS NULL, (SELECT depth FROM up WHERE up.id = r.category_id) LIMIT 1`,
      [workspace.organizationId, ticket.categoryId, ticket.serviceId]));
    return row?.channel_id ?? workspace.triageChannel;
  }

  /**
   * A page of the organization's tickets changed since `since` (the cursor less a margin for transactions that
   * took their timestamp earlier but committed later), in (updated_at, id) order after `after`. Times are
   * Postgres's own text, exact to the microsecond, so that paging never repeats or skips a row.
   */
  changedTickets(organizationId: string, since: string, after: { at: string; id: string } | null, limit = 500): Promise<Array<{ id: string; at: string }>> {
    return withSql(this.orm, (sql) => sql.rows<{ id: string; at: string }>(
      `SELECT t.id, t.updated_at::text AS at FROM tickets t
        WHERE t.organization_id = $1 AND t.updated_at > $2::timestamptz
          AND ($3::timestamptz IS NULL OR (t.updated_at, t.id) > ($3::timestamptz, $4::uuid))
        ORDER BY t.updated_at, t.id LIMIT $5`,
      [organizationId, since, after?.at ?? null, after?.id ?? null, limit]));
  }

  /**
   * Where the workspace's feed reads from (the cursor less `marginMs`), and how far its cursor may move after
   * this read: not past the start of a transaction running now (up to a minute old), since a ticket it changes
   * carries that start as its time and must still be read once it commits. Taken before the read, so that a
   * transaction committing during it cannot slip under the cursor. Postgres's text, exact to the microsecond.
   */
  feedWindow(workspaceId: string, marginMs: number): Promise<{ since: string; horizon: string } | null> {
    return withSql(this.orm, async (sql) => {
      const row = await sql.one<{ since: string; now: string }>(
        `SELECT (sync_cursor - ($2::int * interval '1 millisecond'))::text AS since, clock_timestamp()::text AS now FROM slack_workspaces WHERE id = $1`,
        [workspaceId, marginMs]);
      if (!row) return null;
      const oldest = await sql.one<{ at: string | null }>(
        `SELECT min(xact_start)::text AS at FROM pg_stat_activity
          WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
            AND xact_start IS NOT NULL AND xact_start > now() - interval '1 minute'`).catch(() => undefined);
      return { since: row.since, horizon: oldest?.at ?? row.now };
    });
  }

  /** Moves the feed's cursor forward to `to`, never back. */
  advanceCursor(workspaceId: string, to: string): Promise<void> {
    return withSql(this.orm, async (sql) => {
      await sql.rows('UPDATE slack_workspaces SET sync_cursor = greatest(sync_cursor, $2::timestamptz) WHERE id = $1', [workspaceId, to]);
    });
  }

  /** The ticket as its message shows it, and where that message is (null before it is posted). */
  async card(organizationId: string, ticketId: string): Promise<TicketCard | null> {
    const r = await withSql(this.orm, (sql) => sql.one<Record<string, unknown>>(
      `SELECT st.channel_id AS thread_channel, st.ts AS thread_ts, st.rendered_hash AS thread_hash, t.id, t.organization_id, t.number, t.subject, t.status, t.priority, t.deadline, t.channel, t.created_at,
              t.category_id, c.name AS category_name, t.service_id, s.name AS service_name, o.name AS object_name,
              r.name AS reporter_name, u.name AS assignee_name,
              -- An address agents can read (email, phone, the account's email); chat and key ids are not.
              coalesce((SELECT i.address FROM reporter_identities i WHERE i.reporter_id = t.reporter_id AND i.kind IN ('email', 'phone')
                         ORDER BY (i.kind = 'email') DESC, i.created_at LIMIT 1),
                       (SELECT ru.email FROM users ru WHERE ru.id = r.user_id)) AS reporter_address
         FROM tickets t
         JOIN reporters r ON r.id = t.reporter_id
         LEFT JOIN users u ON u.id = t.assignee_id
         LEFT JOIN categories c ON c.id = t.category_id
         LEFT JOIN services s ON s.id = t.service_id
         LEFT JOIN objects o ON o.id = t.object_id
         LEFT JOIN slack_threads st ON st.ticket_id = t.id
        WHERE t.organization_id = $1 AND t.id = $2`,
      [organizationId, ticketId]));
    return r ? toCard(r) : null;
  }

  async cardByNumber(organizationId: string, number: number): Promise<TicketCard | null> {
    const row = await withSql(this.orm, (sql) => sql.one<{ id: string }>('SELECT id FROM tickets WHERE organization_id = $1 AND number = $2', [organizationId, number]));
    return row ? this.card(organizationId, row.id) : null;
  }

  /** The ticket whose message is `ts` in `channelId`, within the organization. */
  ticketOfThread(organizationId: string, channelId: string, ts: string): Promise<{ ticketId: string; number: number } | null> {
    return withSql(this.orm, async (sql) => {
      const r = await sql.one<{ ticket_id: string; number: number }>(
        `SELECT s.ticket_id, t.number FROM slack_threads s JOIN tickets t ON t.id = s.ticket_id
          WHERE s.organization_id = $1 AND s.channel_id = $2 AND s.ts = $3`, [organizationId, channelId, ts]);
      return r ? { ticketId: r.ticket_id, number: r.number } : null;
    });
  }

  saveThread(organizationId: string, ticketId: string, channelId: string, ts: string, renderedHash: string): Promise<void> {
    return withSql(this.orm, async (sql) => {
      // A post that went through also ends the workspace's last error, if it had one.
      await sql.rows(
        `WITH fine AS (UPDATE slack_workspaces SET last_error = NULL WHERE organization_id = $2 AND last_error IS NOT NULL)
         INSERT INTO slack_threads (ticket_id, organization_id, channel_id, ts, rendered_hash) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (ticket_id) DO UPDATE SET channel_id = excluded.channel_id, ts = excluded.ts, rendered_hash = excluded.rendered_hash,
                                               last_error = NULL, updated_at = now()`,
        [ticketId, organizationId, channelId, ts, renderedHash]);
    });
  }

  /**
   * Messages of the ticket not yet in its thread, oldest first: every message except the replies taken from
   * this workspace's threads (marked in their metadata when they were taken, before any post could happen).
   */
  async unmirrored(ticketId: string, teamId: string, threadTs: string | null, limit = 20): Promise<MessageToMirror[]> {
    const rows = await withSql(this.orm, (sql) => sql.rows<{
      id: string; body: string; visibility: 'public' | 'internal'; author_name: string | null; by_staff: boolean; channel: string;
      opened: boolean; files: MessageToMirror['files'] | null;
    }>(
      `SELECT m.id, m.body, m.visibility, m.channel, coalesce(u.name, nullif(r.name, ''), i.address) AS author_name,
              -- Staff writing on a ticket they reported themselves write as its reporter.
              m.author_user_id IS NOT NULL AND m.author_user_id IS DISTINCT FROM tr.user_id AS by_staff,
              m.id = (SELECT f.id FROM messages f WHERE f.ticket_id = m.ticket_id ORDER BY f.created_at, f.id LIMIT 1) AS opened,
              (SELECT json_agg(json_build_object('filename', a.filename, 'contentType', a.content_type, 'storageKey', a.storage_key, 'size', a.size) ORDER BY a.id)
                 FROM attachments a WHERE a.message_id = m.id) AS files
         FROM messages m
         JOIN tickets t ON t.id = m.ticket_id
         JOIN reporters tr ON tr.id = t.reporter_id
         LEFT JOIN users u ON u.id = m.author_user_id
         LEFT JOIN reporters r ON r.id = m.author_reporter_id
         LEFT JOIN LATERAL (SELECT address FROM reporter_identities WHERE reporter_id = r.id ORDER BY created_at LIMIT 1) i ON true
        WHERE m.ticket_id = $1 AND NOT EXISTS (SELECT 1 FROM slack_posts p WHERE p.message_id = m.id)
          AND NOT ((m.metadata->'slackThread'->>'team') IS NOT DISTINCT FROM $3 AND (m.metadata->'slackThread'->>'threadTs') IS NOT DISTINCT FROM $4::text)
        ORDER BY m.created_at, m.id LIMIT $2`,
      [ticketId, limit, teamId, threadTs]));
    return rows.map((r) => ({ id: r.id, body: r.body, visibility: r.visibility, authorName: r.author_name ?? '', byStaff: r.by_staff, opened: r.opened, channel: r.channel, files: r.files ?? [] }));
  }

  /**
   * Whether an older ticket of the organization, opened in the last two minutes (and since the workspace was
   * connected), still waits for its first message and has not failed to get one: the triage channel shows
   * tickets in the order they came.
   */
  async olderWaiting(organizationId: string, number: number): Promise<boolean> {
    const row = await withSql(this.orm, (sql) => sql.one(
      `SELECT 1 FROM tickets o
        WHERE o.organization_id = $1 AND o.created_at > now() - interval '2 minutes' AND o.number < $2
          -- Only tickets the feed will post: those opened since the workspace was connected.
          AND o.created_at > (SELECT w.created_at FROM slack_workspaces w WHERE w.organization_id = $1)
          AND NOT EXISTS (SELECT 1 FROM slack_threads st WHERE st.ticket_id = o.id)
          AND NOT EXISTS (SELECT 1 FROM ticket_events e WHERE e.ticket_id = o.id AND e.kind = 'slack_post_failed')
        LIMIT 1`,
      [organizationId, number]));
    return Boolean(row);
  }

  /** A ticket's message was posted anew (the old one is gone): its thread starts over with the whole conversation. */
  forgetPosts(ticketId: string): Promise<void> {
    return withSql(this.orm, async (sql) => {
      await sql.rows('DELETE FROM slack_posts WHERE ticket_id = $1', [ticketId]);
    });
  }

  recordPost(p: { messageId: string; organizationId: string; ticketId: string; channelId: string; ts: string; direction: 'in' | 'out' }): Promise<void> {
    return withSql(this.orm, async (sql) => {
      await sql.rows(
        `INSERT INTO slack_posts (message_id, organization_id, ticket_id, channel_id, ts, direction) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (message_id) DO NOTHING`,
        [p.messageId, p.organizationId, p.ticketId, p.channelId, p.ts, p.direction]);
    });
  }

  /**
   * A reply taken from Slack (from its metadata, written with it) and what became of the notifications about it;
   * null for messages from elsewhere.
   */
  replyOutcome(messageId: string): Promise<ReplyOutcome | null> {
    return withSql(this.orm, async (sql) => {
      const r = await sql.one<{ organization_id: string; ticket_id: string; channel_id: string | null; ts: string | null; thread_ts: string | null; visibility: string;
        deliveries: ReplyOutcome['deliveries'] | null }>(
        `SELECT m.organization_id, m.ticket_id, m.metadata->'slackThread'->>'channel' AS channel_id, m.metadata->'slackThread'->>'ts' AS ts,
                m.metadata->'slackThread'->>'threadTs' AS thread_ts, m.visibility,
                (SELECT json_agg(json_build_object('status', n.status, 'error', n.last_error) ORDER BY n.created_at)
                   FROM notifications n WHERE n.ticket_id = m.ticket_id AND n.kind = 'agent_replied' AND n.payload->>'messageId' = $1) AS deliveries
           FROM messages m WHERE m.id = $1::uuid`, [messageId]);
      if (!r?.channel_id || !r.ts) return null;
      return { organizationId: r.organization_id, ticketId: r.ticket_id, channelId: r.channel_id, ts: r.ts, threadTs: r.thread_ts ?? r.ts, visibility: r.visibility, deliveries: r.deliveries ?? [] };
    });
  }

  /** A staff user of the organization with this email (agents and admins speak for the helpdesk; customers do not). */
  staffByEmail(organizationId: string, email: string): Promise<{ userId: string; name: string; role: string } | null> {
    return withSql(this.orm, async (sql) => {
      const r = await sql.one<{ id: string; name: string; role: string }>(
        `SELECT id, name, role FROM users WHERE organization_id = $1 AND lower(email) = lower($2) AND role IN ('agent', 'admin')`, [organizationId, email]);
      return r ? { userId: r.id, name: r.name, role: r.role } : null;
    });
  }

  /** Records on the ticket that Slack refused a post for good, so that people see it where they look. */
  recordFailure(organizationId: string, ticketId: string, reason: string): Promise<void> {
    return withSql(this.orm, async (sql) => {
      await sql.rows(
        `WITH e AS (INSERT INTO ticket_events (id, organization_id, ticket_id, channel, kind, changes) VALUES ($1, $2, $3, 'slack', 'slack_post_failed', $4::jsonb))
         UPDATE slack_threads SET last_error = $5 WHERE ticket_id = $3`,
        [uuidv7(), organizationId, ticketId, JSON.stringify({ reason }), reason]);
    });
  }

  private open(r: WorkspaceRow): WorkspaceConfig {
    return {
      id: r.id, organizationId: r.organization_id, teamId: r.team_id, teamName: r.team_name, botUserId: r.bot_user_id,
      botToken: this.box.open(r.bot_token), signingSecret: this.box.open(r.signing_secret), triageChannel: r.triage_channel,
      noteMarkers: r.note_markers, language: asLocale(r.language),
    };
  }
}

function toCard(r: Record<string, unknown>): TicketCard {
  return {
    id: String(r.id), organizationId: String(r.organization_id), number: Number(r.number), subject: String(r.subject),
    status: String(r.status), priority: String(r.priority), deadline: isoOrNull(r.deadline), channel: String(r.channel),
    reporterName: String(r.reporter_name ?? ''), reporterAddress: (r.reporter_address as string | null) ?? null,
    objectName: (r.object_name as string | null) ?? null, categoryId: (r.category_id as string | null) ?? null,
    categoryName: (r.category_name as string | null) ?? null, serviceId: (r.service_id as string | null) ?? null,
    serviceName: (r.service_name as string | null) ?? null, assigneeName: (r.assignee_name as string | null) ?? null,
    createdAt: iso(r.created_at),
    thread: r.thread_ts ? { channelId: String(r.thread_channel), ts: String(r.thread_ts), renderedHash: String(r.thread_hash) } : null,
  };
}

function asLocale(value: string): Locale {
  return (LOCALES as readonly string[]).includes(value) ? (value as Locale) : 'en';
}
